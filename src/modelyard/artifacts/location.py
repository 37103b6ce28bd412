"""Choose the artifact store backend from a URI."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from modelyard.artifacts.local import LocalArtifactStore
from modelyard.artifacts.objectstore import FsspecArtifactStore
from modelyard.artifacts.store import ArtifactStore


def open_store(uri: str, *, s3_endpoint_url: str | None = None) -> ArtifactStore:
    """Return the store for ``uri``: a local directory for ``file://`` or a bare path,
    fsspec for anything else (``s3://bucket/prefix``, ``memory://``, ``gs://`` …).

    Args:
        uri: the artifact root.
        s3_endpoint_url: the endpoint of an S3-compatible server (MinIO, a local test server).
    """
    parts = urlsplit(uri)
    if parts.scheme in ("", "file"):
        path = unquote(parts.path) if parts.scheme == "file" else uri
        return LocalArtifactStore(Path(path).expanduser())
    options: dict[str, Any] = {}
    if parts.scheme in ("s3", "s3a") and s3_endpoint_url:
        options["endpoint_url"] = s3_endpoint_url
    return FsspecArtifactStore(uri, storage_options=options)
