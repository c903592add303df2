"""Damage in the middle of a spool file is not a torn tail (issue 18, item 2): only a
damaged LAST frame is. Damage anywhere else keeps the file (moved to rejected/), is
reported, and every intact frame after it is still delivered; `trackboard sync` then
exits 1. Real files, corrupted byte by byte."""

from __future__ import annotations

import struct
import time
from array import array
from pathlib import Path

import pytest
from click.testing import CliRunner
from trackboard.dashboard.cli import cli
from trackboard.storage import Store
from trackboard.storage.write.records import POINTS, RUN
from trackboard.storage.write.spool import (
    MAGIC,
    REJECTED,
    SpoolReader,
    SpoolWriter,
    pending_files,
    spool_dir,
)
from trackboard.storage.write.spool.frames import FRAME_HEAD

FRAMES, PER_FRAME = 10, 100


def _run(uid: str) -> tuple:
    return (RUN, {"uid": uid, "project": "dmg", "name": uid, "framework": None, "host": "h",
                  "git_commit": None, "command": "c", "created_at": time.time(),
                  "status": "running"})


def _ten_frames(directory: Path, uid: str = "d") -> tuple[Path, list[int]]:
    """A spool file of 10 record frames of 100 one-point records (steps 0..999);
    returns it and the byte offset of each record frame."""
    w = SpoolWriter(directory, lambda: [_run(uid)])
    for f in range(FRAMES):
        w.append([(POINTS, uid, s, 1e9 + s, ("x",), array("d", [float(s)]))
                  for s in range(f * PER_FRAME, (f + 1) * PER_FRAME)])
    path = w.close()
    assert path is not None
    return path, _frame_offsets(path.read_bytes())[2:]  # after the info and run frames


def _frame_offsets(data: bytes) -> list[int]:
    at, out = len(MAGIC), []
    while at < len(data):
        out.append(at)
        at += FRAME_HEAD.size + struct.unpack_from("<I", data, at)[0]
    return out


def _corrupt(path: Path, at: int, new: bytes) -> None:
    raw = bytearray(path.read_bytes())
    raw[at:at + len(new)] = new
    path.write_bytes(bytes(raw))


def _sync(url: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["sync", "--store", url])
    return result.exit_code, result.output  # stdout and stderr, as a terminal shows them


def _steps(url: str) -> list[int]:
    store = Store(url)
    hist = store.history(list(store.runs()["id"]), keys=["x"], max_points=10**6)
    return sorted(hist["step"].tolist())


def _length(path: Path, at: int) -> int:
    return struct.unpack_from("<I", path.read_bytes(), at)[0]


# (what is corrupted, how): frame 3 of 10 (index 2) in every case
CASES = {
    "length past the end of the file": lambda p, at: _corrupt(p, at, struct.pack("<I", 1 << 20)),
    "length shorter than the frame": lambda p, at: _corrupt(p, at, struct.pack("<I", 40)),
    "length beyond any frame": lambda p, at: _corrupt(p, at, struct.pack("<I", 0xFFFFFFF0)),
    "zero length": lambda p, at: _corrupt(p, at, struct.pack("<I", 0)),
    "a payload byte": lambda p, at: _corrupt(p, at + FRAME_HEAD.size + 30, b"\xff"),
    "the checksum": lambda p, at: _corrupt(p, at + 4, b"\0\0\0\0"),
    "the whole frame header": lambda p, at: _corrupt(p, at, b"\xab" * FRAME_HEAD.size),
}


@pytest.mark.parametrize("case", list(CASES))
def test_damage_in_frame_3_of_10_costs_only_frame_3(tmp_path: Path, case: str) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    Store(url).close()
    path, offsets = _ten_frames(spool_dir(url))
    CASES[case](path, offsets[2])

    code, out = _sync(url)
    assert _steps(url) == [s for s in range(1000) if not 200 <= s < 300], out
    assert code == 1, out  # something was set aside
    assert "delivered 900 points from 1 spool file(s)" in out, out
    assert "the 900 points of its intact frames were delivered" in out, out
    assert out.splitlines()[-1].startswith("Error: not everything was delivered"), out
    assert f"rejected {path}: damaged" in out, out
    assert (spool_dir(url) / REJECTED / path.name).exists()  # kept, not deleted
    assert not pending_files(spool_dir(url))


def test_damage_in_the_first_record_frame_and_in_the_last_keeps_the_rest(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    Store(url).close()
    path, offsets = _ten_frames(spool_dir(url))
    _corrupt(path, offsets[0] + FRAME_HEAD.size + 5, b"\x00\x01")
    _corrupt(path, offsets[-1] + FRAME_HEAD.size + 50, b"\x00\x01")  # CRC fails; not torn
    code, out = _sync(url)
    assert _steps(url) == list(range(100, 900)), out
    assert code == 1 and "damaged" in out and "2 damaged places" in out, out


def test_only_a_damaged_last_frame_is_a_torn_tail(tmp_path: Path) -> None:
    """A last frame cut short (killed mid-write), or whose length runs past the end with
    no intact frame after it: a torn tail, not damage; the file is delivered and goes."""
    url = f"sqlite:///{tmp_path / 't.db'}"
    Store(url).close()
    cut, _ = _ten_frames(spool_dir(url), "cut")
    cut.write_bytes(cut.read_bytes()[:-7])
    long, offsets = _ten_frames(spool_dir(url), "long")
    _corrupt(long, offsets[-1], struct.pack("<I", _length(long, offsets[-1]) + 99))
    code, out = _sync(url)
    assert code == 0, out
    assert "delivered 1800 points from 2 spool file(s)" in out, out
    assert out.count("cut short by a crash") == 2, out
    assert not pending_files(spool_dir(url)) and not (spool_dir(url) / REJECTED).exists()


@pytest.mark.parametrize(("stored", "damaged", "expected"), [
    (250, 4, [*range(250, 400), *range(500, 1000)]),   # the note before the damage
    (700, 4, [*range(500, 1000)]),                     # the note past it: not trusted
])
def test_a_stored_note_never_skips_records_after_damage(
        tmp_path: Path, stored: int, damaged: int, expected: list[int]) -> None:
    """Records past a damaged frame cannot be counted, so a note of how many records
    are stored never skips any of them (delivering a stored record again is harmless;
    skipping an unstored one loses it)."""
    w = SpoolWriter(tmp_path, lambda: [_run("n")])
    for f in range(FRAMES):
        w.append([(POINTS, "n", s, 1e9 + s, ("x",), array("d", [float(s)]))
                  for s in range(f * PER_FRAME, (f + 1) * PER_FRAME)])
    w.mark_stored(stored)
    path = w.close()
    assert path is not None
    offsets = _frame_offsets(path.read_bytes())[2:]
    _corrupt(path, offsets[damaged] + FRAME_HEAD.size + 30, b"\xff")
    reader = SpoolReader(path)
    got = [r[2] for chunk in reader for r in chunk if r[0] == POINTS]
    assert got == expected
    assert reader.damage is not None and not reader.torn


def test_a_large_damaged_region_is_skipped_quickly(tmp_path: Path) -> None:
    """Resynchronising scans forward for the next intact frame: a megabyte of garbage
    in the middle of a file costs well under a second, and what follows is read."""
    w = SpoolWriter(tmp_path, lambda: [_run("big")])
    w.append([(POINTS, "big", s, 1e9 + s, ("x",), array("d", [float(s)])) for s in range(10)])
    head_end = w._size
    w.append([(POINTS, "big", s, 1e9 + s, ("x",), array("d", [float(s)]))
              for s in range(10, 20)])
    path = w.close()
    assert path is not None
    data = path.read_bytes()
    garbage = (struct.pack("<Q", 7) + bytes(range(256)) * 4) * 1024  # small lengths, zeros
    path.write_bytes(data[:head_end] + garbage + data[head_end:])
    t0 = time.perf_counter()
    reader = SpoolReader(path)
    got = [r[2] for chunk in reader for r in chunk if r[0] == POINTS]
    assert got == list(range(20)) and reader.damage is not None
    assert time.perf_counter() - t0 < 5.0  # generous for a shared CI machine


def test_a_damaged_file_description_costs_only_itself(tmp_path: Path) -> None:
    """The first frame (the file's description) damaged, by its length or a byte: the
    magic says it is a spool file, and every intact frame after it is still read."""
    for corrupt in ("length", "byte"):
        directory = tmp_path / corrupt
        path, _ = _ten_frames(directory)
        info_at = len(MAGIC)
        if corrupt == "length":
            _corrupt(path, info_at, struct.pack("<I", 0xFFFFFFF0))
        else:
            _corrupt(path, info_at + FRAME_HEAD.size + 3, b"\xff")
        reader = SpoolReader(path)
        got = [r[2] for chunk in reader for r in chunk if r[0] == POINTS]
        assert got == list(range(1000)), corrupt
        assert reader.damage is not None and not reader.torn


def test_a_torn_tail_stays_a_tail_while_the_file_is_delivered_in_batches(tmp_path: Path
                                                                         ) -> None:
    """A file killed mid-write (its last frame cut short) and delivered in several
    batches: the progress notes the delivery appends go before the torn frame, never
    after it, where it would read as damage in the middle. Seen after a kill -9 in the
    middle of a burst of images (tests/test_media_budget.py)."""
    url = f"sqlite:///{tmp_path / 't.db'}"
    Store(url).close()
    cut, _ = _ten_frames(spool_dir(url), "cut")
    cut.write_bytes(cut.read_bytes()[:-7])  # frame 10 of 10 is torn
    from trackboard.storage.write.sync import deliver_spool

    result = deliver_spool(url, batch_points=150)  # a note after each batch of frames
    assert result.delivered_points == 900 and not result.rejected, result.summary()
    assert any("cut short by a crash" in n for n in result.notes), result.notes
    assert _steps(url) == list(range(900))
    assert not pending_files(spool_dir(url)) and not (spool_dir(url) / REJECTED).exists()
