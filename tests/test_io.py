"""The one atomic write: all or nothing, unique temporary names, no leftovers."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks.store.io import (atomic_write_json, atomic_write_text, atomic_write_with,
                           leftover_temp_files)


def test_failed_write_keeps_old_content_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "seed1.json"
    atomic_write_json(path, {"old": True})

    def half_then_disk_full(fh):
        fh.write(b'{"half": ')
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write_with(path, half_then_disk_full)
    assert json.loads(path.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["seed1.json"]


def test_json_refuses_nan_and_writes_nothing(tmp_path):
    path = tmp_path / "r.json"
    with pytest.raises(ValueError):
        atomic_write_json(path, {"acc": math.nan})
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_concurrent_writers_use_distinct_temp_names(tmp_path):
    path = tmp_path / "table.md"
    seen = []

    def record_name(fh):
        seen.extend(p.name for p in leftover_temp_files(path))  # the temp file being written
        fh.write(b"x")

    atomic_write_with(path, record_name)
    atomic_write_with(path, record_name)
    assert len(seen) == 2 and len(set(seen)) == 2
    atomic_write_text(path, "final")
    assert path.read_text() == "final" and leftover_temp_files(path) == []


def test_leftover_temp_files_finds_only_ours(tmp_path):
    path = tmp_path / "accuracy.png"
    ours = tmp_path / ".accuracy.png.abc123.tmp"
    other = tmp_path / ".table.md.abc123.tmp"
    ours.write_text("")
    other.write_text("")
    assert leftover_temp_files(path) == [ours]
