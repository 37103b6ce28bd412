"""Tests of modelyard/artifacts/store.py: digests, blob keys and hashing copies."""

from __future__ import annotations

import hashlib
import io
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.artifacts import store
from modelyard.artifacts.store import (
    blob_key,
    check_digest,
    copy_hashing,
    digest_of,
    ensure_matches,
    hash_stream,
    iter_chunks,
)
from modelyard.errors import CorruptBlobError, InvalidDigestError

EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
HELLO = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

MALFORMED_DIGESTS = [
    "",
    "sha256:",
    "sha256:abc",
    "sha256:" + "A" * 64,
    "sha256:" + "g" * 64,
    "sha256:" + "0" * 63,
    "sha256:" + "0" * 65,
    "sha256:" + "0" * 64 + "\n",
    "SHA256:" + "0" * 64,
    "md5:d41d8cd98f00b204e9800998ecf8427e",
    "0" * 64,
    "sha256:../../../../etc/passwd",
]


def test_digest_of_is_sha256_with_its_prefix() -> None:
    assert digest_of(b"") == EMPTY
    assert digest_of(b"hello") == HELLO


def test_check_digest_returns_a_well_formed_digest() -> None:
    assert check_digest(HELLO) == HELLO


@pytest.mark.parametrize("digest", MALFORMED_DIGESTS)
def test_check_digest_rejects_a_malformed_digest(digest: str) -> None:
    with pytest.raises(InvalidDigestError) as caught:
        check_digest(digest)

    assert str(caught.value) == (
        f'invalid digest {digest!r}: expected "sha256:" followed by 64 lowercase hex digits'
    )


def test_check_digest_rejects_a_value_that_is_not_a_string() -> None:
    with pytest.raises(InvalidDigestError, match=re.escape("invalid digest 'None'")):
        check_digest(None)  # type: ignore[arg-type]


def test_blob_key_fans_out_by_the_first_two_hex_digits() -> None:
    assert blob_key(HELLO) == f"sha256/2c/{HELLO.removeprefix('sha256:')}"


@pytest.mark.parametrize("digest", MALFORMED_DIGESTS)
def test_blob_key_of_a_malformed_digest_raises(digest: str) -> None:
    with pytest.raises(InvalidDigestError, match=re.escape(f"invalid digest {digest!r}")):
        blob_key(digest)


@pytest.mark.parametrize("size", [0, 1, 6, 7, 8, 20, 21, 22])
def test_hashing_works_across_chunk_boundaries(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    monkeypatch.setattr(store, "CHUNK_BYTES", 7)
    data = bytes(range(size))

    chunks = list(iter_chunks(io.BytesIO(data)))
    hashed = hash_stream(io.BytesIO(data))
    target = io.BytesIO()
    copied = copy_hashing(io.BytesIO(data), target)

    assert [len(chunk) for chunk in chunks] == [7] * (size // 7) + ([size % 7] if size % 7 else [])
    assert b"".join(chunks) == data
    assert hashed == copied == (digest_of(data), size)
    assert target.getvalue() == data


def test_hash_stream_reads_from_the_current_position() -> None:
    stream = io.BytesIO(b"xxhello")
    stream.seek(2)

    assert hash_stream(stream) == (HELLO, 5)


def test_ensure_matches_accepts_equal_digests() -> None:
    ensure_matches(HELLO, HELLO, "/somewhere")  # raises on a mismatch


def test_ensure_matches_raises_corrupt_blob_naming_both_digests_and_the_location() -> None:
    with pytest.raises(CorruptBlobError) as caught:
        ensure_matches(HELLO, EMPTY, "/srv/blob")

    assert caught.value.details() == {"digest": HELLO, "actual": EMPTY, "location": "/srv/blob"}
    assert str(caught.value).startswith(f"artifact blob {HELLO} at /srv/blob is corrupt")


@given(data=st.binary(max_size=4096))
@settings(max_examples=50, derandomize=True, deadline=None)
def test_every_way_of_hashing_gives_the_sha256_digest(data: bytes) -> None:
    expected = "sha256:" + hashlib.sha256(data).hexdigest()
    target = io.BytesIO()

    assert digest_of(data) == expected
    assert check_digest(expected) == expected
    assert hash_stream(io.BytesIO(data)) == (expected, len(data))
    assert copy_hashing(io.BytesIO(data), target) == (expected, len(data))
    assert target.getvalue() == data
