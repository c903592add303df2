"""Spool files are data, not code: msgpack frames with checksums. A torn tail costs
only itself, a damaged or foreign file is set aside without blocking the others, an
old pickle spool is refused unread, and `trackboard sync` says what happened."""

from __future__ import annotations

import os
import pickle
import time
from array import array
from pathlib import Path

import pytest
from click.testing import CliRunner
from trackboard.dashboard.cli import cli
from trackboard.storage import Store
from trackboard.storage.write import spool
from trackboard.storage.write.records import NOTES, PARAMS, POINTS, RUN, STATUS, TAGS
from trackboard.storage.write.spool import (
    REJECTED,
    SpoolReader,
    SpoolWriter,
    frames,
    pending_files,
    spool_dir,
)


def _run(uid: str) -> tuple:
    return (RUN, {"uid": uid, "project": "spool", "name": uid, "framework": None,
                  "host": "h", "git_commit": None, "command": "c", "created_at": time.time(),
                  "status": "running"})


def _points(uid: str, steps: range, keys: tuple[str, ...] = ("a", "b")) -> list[tuple]:
    now = time.time()
    return [(POINTS, uid, s, now + s * 1e-3, keys, array("d", [float(s)] * len(keys)))
            for s in steps]


def _spool_file(directory: Path, records: list[tuple]) -> Path:
    w = SpoolWriter(directory, lambda: [])
    w.append(records)
    path = w.close()
    assert path is not None
    return path


def test_every_plain_value_round_trips(tmp_path: Path) -> None:
    keys = ("loss", "acc")
    records = [
        _run("r1"),
        (POINTS, "r1", 0, 1.5, keys, array("d", [0.25, float("nan")])),
        (POINTS, "r1", 1, 2.5, keys, array("d", [float("inf"), -0.0])),
        (POINTS, "r1", 2, 3.5, {"loss": 1.0}),  # the importers' form
        (PARAMS, "r1", {"lr": "0.1", "nested": '{"a": [1, 2]}'}),
        (TAGS, "r1", {"seed": "3"}),
        (NOTES, "r1", "ünïcode ✓"),
        (STATUS, "r1", "finished", 9.0),
        (99, "r1", [1, 2.0, None, True, {"k": (3,)}], array("d", [1.0])),  # a future type
    ]
    path = _spool_file(tmp_path, records)
    got = [r for chunk in SpoolReader(path) for r in chunk]
    # Other records come first, points after them (stored as columns); sequences
    # read back as tuples.
    others = [r for r in records if not (r[0] == POINTS and len(r) == 6)]
    assert got[:len(others)] == [_tupled(r) for r in others]
    got_points = got[len(others):]
    assert [r[:5] for r in got_points] == [r[:5] for r in records[1:3]]
    assert str(got_points[0][5]) == "array('d', [0.25, nan])"
    assert got_points[1][5].tolist() == [float("inf"), -0.0]


def test_points_are_encoded_in_bulk_exactly_as_one_by_one(monkeypatch) -> None:
    """The guard encodes bursts column-wise; the frames must be byte-identical to the
    per-record encoding, and any record of an unusual shape falls back to it."""
    a, b = ("loss", "acc"), ("lr",)
    cases = {
        "one run, one key tuple": _points("r1", range(50)),
        "two runs, two key sets, others between": [
            _run("r1"), *_points("r1", range(3), a), (STATUS, "r2", "running", None),
            *_points("r2", range(3), b), *_points("r1", range(3, 5), tuple(a))],
        "a bool step": [(POINTS, "r1", True, 1.0, a, array("d", [1.0, 2.0]))],
        "an int wall time": [(POINTS, "r1", 1, 1, a, array("d", [1.0, 2.0]))],
        "a step past int64": [(POINTS, "r1", 1 << 63, 1.0, a, array("d", [1.0, 2.0]))],
        "a key that is not text": [(POINTS, "r1", 1, 1.0, ("x", 2), array("d", [1.0, 2.0]))],
        "float32 values": [(POINTS, "r1", 1, 1.0, b, array("f", [1.0]))],
        "fewer values than keys": [(POINTS, "r1", 1, 1.0, a, array("d", [1.0]))],
    }
    bulk = {name: _encoded(recs) for name, recs in cases.items()}
    assert bulk["float32 values"] == "TypeError"  # not plain data either way
    monkeypatch.setattr(frames, "_columns_in_bulk", lambda records: None)
    for name, recs in cases.items():
        assert bulk[name] == _encoded(recs), name


def _encoded(records: list[tuple]) -> bytes | str:
    try:
        return spool.encode_records(records)
    except TypeError as exc:
        return type(exc).__name__


def _tupled(value: object) -> object:
    if isinstance(value, (list, tuple)):
        return tuple(_tupled(v) for v in value)
    if isinstance(value, dict):
        return {k: _tupled(v) for k, v in value.items()}
    return value


def test_a_torn_tail_costs_only_the_torn_frame(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    url = f"sqlite:///{db}"
    Store(url)
    directory = spool_dir(url)
    w = SpoolWriter(directory, lambda: [_run("torn")])
    w.append(_points("torn", range(0, 100)))
    w.append(_points("torn", range(100, 200)))
    path = w.close()
    assert path is not None
    data = path.read_bytes()
    path.write_bytes(data[:-7])  # killed in the middle of writing the last frame
    reader = SpoolReader(path)
    assert sum(len(c) for c in reader) == 1 + 100
    assert reader.torn and reader.damage is None

    result = CliRunner().invoke(cli, ["sync", "--store", url])
    assert result.exit_code == 0, result.output
    assert "delivered 200 points from 1 spool file(s)" in result.output
    assert "cut short by a crash" in result.output
    assert len(Store(url).history([Store(url).runs()["id"][0]])) == 200
    assert not pending_files(directory)


def test_a_bad_file_or_record_never_blocks_the_others(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    url = f"sqlite:///{db}"
    Store(url)
    directory = spool_dir(url)
    _spool_file(directory, [_run("good"), *_points("good", range(50))])
    # Well framed, wrong records: an unknown record type, a points record without
    # values, a record that is not even a tuple, one for a run that was never started.
    _spool_file(directory, [_run("mixed"), *_points("mixed", range(10)),
                                    (77, "mixed"), (POINTS, "mixed", 3), "junk",
                                    *_points("ghost", range(5)),
                                    *_points("mixed", range(10, 20))])
    damaged = _spool_file(directory, [_run("dmg"), *_points("dmg", range(30))])
    raw = bytearray(damaged.read_bytes())
    raw[-20] ^= 0xFF  # one flipped byte inside the last frame: its checksum fails
    damaged.write_bytes(bytes(raw))
    foreign = directory / "0-foreign.spool"
    foreign.write_bytes(b"hello, not a spool file at all")

    result = CliRunner().invoke(cli, ["sync", "--store", url])
    assert result.exit_code == 1, result.output  # things were set aside: said, exit 1
    out = result.output
    assert out.splitlines()[-1] == ("Error: not everything was delivered: 8 record(s) the "
                                    "store refused set aside, 2 spool file(s) set aside in "
                                    "rejected/ (see above)"), out
    # good (50 x 2 points) and the readable records of the wrong file (20 x 2); none of
    # the damaged file's points sit before its damaged frame (one frame holds them all).
    assert "delivered 140 points from 2 spool file(s)" in out, out
    assert "set aside 8 record(s) (10 points) the store refused" in out, out
    assert f"rejected {foreign}: not a trackboard spool file" in out, out
    assert f"rejected {damaged}: damaged: checksum mismatch" in out, out
    store = Store(url)
    runs = store.runs().set_index("name")
    assert len(store.history([runs.loc["good", "id"]])) == 100
    assert len(store.history([runs.loc["mixed", "id"]])) == 40
    assert not pending_files(directory)
    # The two files as they were, and one file of the records the store refused.
    assert len(list((directory / REJECTED).iterdir())) == 3
    assert (directory / REJECTED / damaged.name).exists()
    assert (directory / REJECTED / foreign.name).exists()


def test_an_old_pickle_spool_is_refused_unread(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    url = f"sqlite:///{db}"
    Store(url)
    directory = spool_dir(url)
    directory.mkdir(parents=True)
    witness = tmp_path / "pwned"

    class Evil:
        def __reduce__(self) -> tuple:
            return (os.system, (f"touch {witness}",))

    legacy = directory / "host-1-abcd.spool"
    legacy.write_bytes(pickle.dumps([_run("old")]) + pickle.dumps([Evil()]))
    fresh = _spool_file(directory, [_run("new"), *_points("new", range(5))])

    result = CliRunner().invoke(cli, ["sync", "--store", url])
    assert result.exit_code == 1, result.output  # a file was set aside
    assert "delivered 10 points from 1 spool file(s)" in result.output
    assert f"rejected {legacy}: written by an older trackboard as a Python pickle" \
        in result.output
    assert not witness.exists()
    assert (directory / REJECTED / legacy.name).exists()
    assert not fresh.exists()


@pytest.mark.postgres
def test_sync_says_why_files_wait(tmp_path: Path, pg_server) -> None:
    url = pg_server.create_database()
    Store(url)
    dead = url.replace(f":{pg_server.port}/", ":9/")  # nothing listens on port 9
    _spool_file(spool_dir(dead), [_run("w"), *_points("w", range(5))])
    result = CliRunner().invoke(cli, ["sync", "--store", dead])
    assert result.exit_code == 1
    assert "still waiting" in result.output and "store unavailable" in result.output
    password = url.split(":")[2].split("@")[0]
    assert password not in result.output


def test_a_stored_note_skips_exactly_what_it_covers(tmp_path: Path) -> None:
    """The writer notes how far the store has a file; a replay skips that much, also
    when the note falls inside a frame, and never an unstored record."""
    w = SpoolWriter(tmp_path, lambda: [_run("u")])
    records = _points("u", range(6000))
    for i in range(0, 6000, 1000):
        part = records[i:i + 1000]
        if i == 1000:
            part = part[:300] + [(TAGS, "u", {"t": "x"})] + part[300:]  # an "other" record
        w.append(part)
    w.mark_stored(1200)  # inside the second frame, before its tag record
    path = w.close()
    assert path is not None
    reader = SpoolReader(path)
    got = [r for chunk in reader for r in chunk]
    steps = [r[2] for r in got if r[0] == POINTS]
    # The tag is kept (it may not be stored); of the points only the first 1199 are
    # surely stored (the tag might have come before them), so 1199 onwards come back.
    assert (TAGS, "u", {"t": "x"}) in got
    assert steps == list(range(1199, 6000))


def test_replaying_millions_of_tiny_records_stays_bounded_in_memory(tmp_path: Path) -> None:
    """A file of records without points (here 20,000 of them) is delivered in batches
    bounded by records too, not only by points: memory does not grow with the file.
    (bench/spool_memory.py measures the peak RSS at 2,000,000 records.)"""
    import tracemalloc

    from trackboard.storage.write.sync import deliver_spool

    url = f"sqlite:///{tmp_path / 't.db'}"
    Store(url).close()
    directory = tmp_path / "tiny"
    w = SpoolWriter(directory, lambda: [_run("tiny")])
    for i in range(0, 20_000, 1_000):  # one frame each
        w.append([(POINTS, "tiny", s, 1e9 + s, (), array("d")) for s in range(i, i + 1_000)])
    w.close()
    tracemalloc.start()
    try:
        result = deliver_spool(url, spool_directory=directory, batch_points=1_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.delivered_files == 1 and not result.rejected, result.summary()
    # All 20,000 records held at once take ~7 MB; 1,000 at a time well under 2.
    assert peak < 4_000_000, peak
