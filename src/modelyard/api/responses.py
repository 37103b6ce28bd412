"""JSON answers (orjson, numpy arrays included) and request ids, shared by every route."""

from __future__ import annotations

import uuid

import orjson
from fastapi import Request
from fastapi.responses import Response

JSON = "application/json"


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
    return uuid.uuid4().hex
