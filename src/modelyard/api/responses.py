"""JSON answers (orjson, numpy arrays included) and request ids, shared by every route."""

from __future__ import annotations

import itertools
import os

import orjson
from fastapi import Request
from fastapi.responses import Response

JSON = "application/json"
# Request ids: a random prefix per process and a counter (uuid4 costs ~10 µs a request).
_PREFIX = os.urandom(6).hex()
_COUNTER = itertools.count(1)


def new_request_id() -> str:
    """A request id unique in this process and, by its random prefix, across processes."""
    return f"{_PREFIX}{next(_COUNTER):010x}"


def json_response(
    payload: object, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """Return ``payload`` serialised by orjson (numpy arrays included)."""
    return Response(
        orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type=JSON,
        headers=headers,
    )


def request_id_of(request: Request) -> str:
    """The caller's ``X-Request-ID`` when it sent a sensible one, else a new id."""
    given = request.headers.get("x-request-id")
    if given and len(given) <= 128 and given.isprintable():
        return given
    return new_request_id()
