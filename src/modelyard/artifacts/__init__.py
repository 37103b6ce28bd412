"""Content-addressed artifact storage: sha256 blobs on a local disk or an object store."""

from modelyard.artifacts.local import LocalArtifactStore
from modelyard.artifacts.location import open_store
from modelyard.artifacts.objectstore import FsspecArtifactStore
from modelyard.artifacts.store import ArtifactStore, BlobInfo, check_digest, digest_of
from modelyard.artifacts.tree import TreeEntry, TreeInfo, get_tree, put_tree, read_tree

__all__ = [
    "ArtifactStore",
    "BlobInfo",
    "FsspecArtifactStore",
    "LocalArtifactStore",
    "TreeEntry",
    "TreeInfo",
    "check_digest",
    "digest_of",
    "get_tree",
    "open_store",
    "put_tree",
    "read_tree",
]
