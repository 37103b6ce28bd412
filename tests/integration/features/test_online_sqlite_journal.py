"""The SQLite online store opened while another connection writes the file: switching the file
to WAL waits for the writer instead of failing with "database is locked"."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pyarrow as pa

from modelyard.features.online.sqlite import SqliteOnlineStore


def test_a_store_opened_during_another_write_waits_for_it(tmp_path: Path) -> None:
    path = tmp_path / "online.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")  # a write in progress, in the default rollback journal
    writer.execute("CREATE TABLE other (a INTEGER)")
    release = threading.Timer(0.3, lambda: writer.execute("COMMIT"))
    release.start()
    store = SqliteOnlineStore(path)
    try:
        written = store.write("v", [(1,)], [5], pa.table({"x": [1.5]}))
        [row] = store.read("v", [(1,)])
    finally:
        release.join()
        store.close()
        writer.close()
    assert written == 1
    assert row is not None
    assert (row.event_ms, row.values) == (5, {"x": 1.5})
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)
