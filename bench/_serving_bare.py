"""The bare endpoint of bench/serving.py: Starlette + onnxruntime, one request per model call.

The floor a model server should not fall below: no batching, no checks, no metrics, no
logging. ``POST /predict`` takes ``{"records": [{"f0": …, …, "f19": …}, …]}``, runs the rows
through one onnxruntime session on the event loop itself (one 1-row call takes ~20-60 µs,
less than handing it to a thread would) and answers ``{"predictions": [...],
"probabilities": [[...], ...]}``. ``GET /readyz`` answers 200 once the session exists (it is
made, and run once, at import, before uvicorn accepts connections).

Run under uvicorn with the worker count of the other servers:

    SERVING_BARE_ONNX=model.onnx uvicorn _serving_bare:app --host 127.0.0.1 --port P \\
        --workers 1 --loop uvloop --http httptools --no-access-log

The session has one intra-op thread and does not spin: a 1-row call gains nothing from a
second thread, and a spinning pool would take CPU from the load generator on a 2-core machine.
"""

from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

FEATURES = [f"f{i}" for i in range(20)]


def _session(path: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


_SESSION = _session(os.environ["SERVING_BARE_ONNX"])
_INPUT = _SESSION.get_inputs()[0].name
_SESSION.run(None, {_INPUT: np.zeros((1, len(FEATURES)), dtype=np.float32)})


def _json(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


async def predict(request: Request) -> Response:
    try:
        records = orjson.loads(await request.body())["records"]
        features = np.array([[row[name] for name in FEATURES] for row in records], np.float32)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        return _json({"message": f"bad request: {error}"}, 400)
    labels, probabilities = _SESSION.run(None, {_INPUT: features})
    # skl2onnx's ZipMap is off in modelyard's conversion: probabilities come as a tensor.
    return _json({"predictions": labels.tolist(), "probabilities": probabilities.tolist()})


async def readyz(request: Request) -> Response:
    return _json({"ready": True})


app = Starlette(routes=[Route("/predict", predict, methods=["POST"]), Route("/readyz", readyz)])
