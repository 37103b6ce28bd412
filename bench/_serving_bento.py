"""The BentoML peer of bench/serving.py: a BentoML 1.4 service running the same ONNX file.

Run from bench/ in the BentoML venv (bench/.venv-peers/bentoml):

    SERVING_BENTO_ONNX=model.onnx SERVING_BENTO_WORKERS=1 SERVING_BENTO_BATCHING=on \\
        bentoml serve _serving_bento:Gbm --host 127.0.0.1 --port P

``POST /predict`` takes the same body as modelyard's endpoint, ``{"records": [{"f0": …}]}``,
and answers a list with one ``{"prediction": …, "probabilities": [...]}`` per row. With
``SERVING_BENTO_BATCHING=on`` (the default) the API is ``batchable``: BentoML's adaptive
batching (its CorkDispatcher) concatenates the ``records`` lists of concurrent requests, up to
``SERVING_BENTO_MAX_BATCH`` rows (64, modelyard's size) and ``SERVING_BENTO_MAX_LATENCY_MS``
(BentoML's latency objective, not a wait; 1,000 ms), and splits the answer back; off, each
request is one model call. Readiness: ``GET /readyz``. The onnxruntime session is made like
the bare endpoint's (one intra-op thread, no spinning). BentoML's access log is off, as for
every server in the benchmark.
"""

from __future__ import annotations

import os

import bentoml
import numpy as np
import onnxruntime as ort

FEATURES = [f"f{i}" for i in range(20)]
_WORKERS = int(os.environ.get("SERVING_BENTO_WORKERS", "1"))
_IS_BATCHING = os.environ.get("SERVING_BENTO_BATCHING", "on") == "on"
_MAX_BATCH = int(os.environ.get("SERVING_BENTO_MAX_BATCH", "64"))
_MAX_LATENCY_MS = int(os.environ.get("SERVING_BENTO_MAX_LATENCY_MS", "1000"))


def _session(path: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


# No access log: no server in bench/serving.py writes one line per request.
@bentoml.service(workers=_WORKERS, traffic={"timeout": 60}, logging={"access": {"enabled": False}})
class Gbm:
    """The 200-tree classifier on onnxruntime."""

    def __init__(self) -> None:
        self.session = _session(os.environ["SERVING_BENTO_ONNX"])
        self.input = self.session.get_inputs()[0].name
        self.session.run(None, {self.input: np.zeros((1, len(FEATURES)), dtype=np.float32)})

    @bentoml.api(
        batchable=_IS_BATCHING,
        max_batch_size=max(2, _MAX_BATCH),
        max_latency_ms=_MAX_LATENCY_MS,
    )
    def predict(self, records: list[dict[str, float]]) -> list[dict[str, object]]:
        features = np.array([[row[name] for name in FEATURES] for row in records], np.float32)
        labels, probabilities = self.session.run(None, {self.input: features})
        return [
            {"prediction": int(label), "probabilities": row}
            for label, row in zip(labels.tolist(), probabilities.tolist(), strict=True)
        ]
