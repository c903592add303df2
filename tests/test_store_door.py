"""The store's rules hold on every way in (issue 18, item 3): what `log()` refuses at the
call (an empty, NUL, control-character or non-UTF-8 key, a negative or oversized step,
NUL or non-UTF-8 text) is refused at the store's door too, for records that arrive
from a spool file with valid checksums, from the writer's queue, and through
`Store.set_tags`. A refused record is set aside in rejected/, never stored, and costs
no other record its place."""

from __future__ import annotations

import time
from array import array
from pathlib import Path

import pytest
from trackboard.storage import Store
from trackboard.storage.write.records import NOTES, PARAMS, POINTS, PURGE, RUN, STATUS, TAGS
from trackboard.storage.write.spool import REJECTED, SpoolReader, SpoolWriter, spool_dir
from trackboard.storage.write.sync import deliver_spool
from trackboard.storage.write.writer import Writer


def _run(uid: str, **fields: object) -> tuple:
    return (RUN, {"uid": uid, "project": "door", "name": uid, "framework": None,
                  "host": "h", "git_commit": None, "command": "c", "created_at": time.time(),
                  "status": "running", **fields})


def _pt(uid: str, step: object, keys: tuple, wall: float = 1e9) -> tuple:
    return (POINTS, uid, step, wall, keys, array("d", [1.0] * len(keys)))


# Each bad record is framed with valid checksums: only the store's rules can refuse it.
BAD_POINTS = {
    "an empty key": _pt("ok", 5, ("",)),
    "a blank key": _pt("ok", 5, ("   ",)),
    "a NUL in a key": _pt("ok", 5, ("lo\x00ss",)),
    "a control character in a key": _pt("ok", 5, ("lo\x07ss",)),
    "a key that is not UTF-8": _pt("ok", 5, ("bad\ud800key",)),
    "a key of 251 characters": _pt("ok", 5, ("k" * 251,)),
    # The same keys as the good records around them: refusing a step or a time must
    # not take every later record with these keys along.
    "a negative step": _pt("ok", -3, ("loss", "acc")),
    "a step beyond 2**53": _pt("ok", 2**60, ("loss", "acc")),
    "a wall time that is not finite": _pt("ok", 5, ("loss", "acc"), wall=float("nan")),
    "a step that is a float": (POINTS, "ok", 1.5, 1e9, {"loss": 1.0}),  # importers' form
    "a step that is a bool": (POINTS, "ok", True, 1e9, {"loss": 1.0}),
}
BAD_OTHERS = {
    "a param with an empty key": (PARAMS, "ok", {"": '"x"'}),
    "a param with a NUL in its value": (PARAMS, "ok", {"lr": '"a\\u0000b"'.encode().decode(
        "unicode_escape")}),
    "a tag with a NUL in its key": (TAGS, "ok", {"t\x00": "v"}),
    "a tag whose value is not UTF-8": (TAGS, "ok", {"team": "bad\ud800"}),
    "a tag whose value is not text": (TAGS, "ok", {"team": 3}),
    "notes with a NUL": (NOTES, "ok", "a\x00b"),
    "an unknown status": (STATUS, "ok", "exploded", 1e9),
    "a purge from a negative step": (PURGE, "ok", -1, 1e9),
}


def _spool(directory: Path, records: list[tuple]) -> Path:
    w = SpoolWriter(directory, lambda: [_run("ok")])
    w.append(records)
    path = w.close()
    assert path is not None
    return path


def _rejected(directory: Path) -> list[tuple]:
    return [r for f in sorted((directory / REJECTED).glob("*.spool"))
            for chunk in SpoolReader(f) for r in chunk if r[0] != RUN]


@pytest.mark.parametrize("what", [*BAD_POINTS, *BAD_OTHERS])
def test_a_replayed_record_the_rules_refuse_is_set_aside_and_costs_nothing_else(
        tmp_path: Path, what: str) -> None:
    bad = {**BAD_POINTS, **BAD_OTHERS}[what]
    url = f"sqlite:///{tmp_path / 't.db'}"
    Store(url).close()
    directory = spool_dir(url)
    good = [_pt("ok", s, ("loss", "acc")) for s in range(20)]
    _spool(directory, [*good[:10], bad, *good[10:], (TAGS, "ok", {"seed": "3"})])
    result = deliver_spool(url)
    assert result.rejected_records == 1, (what, result.summary())
    assert repr(_rejected(directory)) == repr([bad])  # as it was (NaN included)
    store = Store(url)
    (uid,) = store.runs()["id"].tolist()
    hist = store.history([uid], max_points=10**6)
    assert sorted(set(hist["key"])) == ["acc", "loss"]  # the bad key never reached the store
    assert len(hist) == 40 and hist["step"].min() == 0 and hist["step"].max() == 19
    run = store.run(uid)
    assert run["tags"] == {"seed": "3"} and run["status"] == "running"
    assert not run["params"] and not run["notes"]


def test_a_run_record_the_rules_refuse_costs_only_its_own_records(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    Store(url).close()
    directory = spool_dir(url)
    _spool(directory, [_run("bad", name="a\x00b"), _pt("bad", 1, ("x",)),
                       _run("", name="empty-id"), _pt("", 1, ("x",)),
                       _run("ok2", project="pro\ud800ject"), *[_pt("ok", s, ("x",)) for s in range(5)]])
    result = deliver_spool(url)
    assert result.rejected_records == 5, result.summary()
    store = Store(url)
    assert store.runs()["id"].tolist() == ["ok"]
    assert len(store.history(["ok"])) == 5


def test_the_live_writer_refuses_at_the_door_what_slipped_past_validation(
        sqlite_url: str) -> None:
    """Records that reach the writer's queue without Run's checks (a bug, a third-party
    producer) meet the same rules: set aside, counted, the rest stored."""
    writer = Writer(sqlite_url, flush_interval=60.0)
    writer.register_run(_run("live")[1])
    for s in range(10):
        writer.submit(_pt("live", s, ("loss",)), 1)
    writer.submit(_pt("live", -1, ("loss",)), 1)
    writer.submit(_pt("live", 3, ("",)), 1)
    writer.submit((TAGS, "live", {"": "x"}))
    assert writer.flush(30)
    writer.close()
    assert writer.points_rejected == 2
    store = Store(sqlite_url)
    assert sorted(store.history(["live"])["step"]) == list(range(10))
    assert store.run("live")["tags"] == {}


@pytest.mark.parametrize(("tags", "message"), [
    ({"": "x"}, "empty key"),
    ({"t\x00": "x"}, "control characters|NUL"),
    ({"t\ud800": "x"}, "UTF-8"),
    ({"team": "a\x00b"}, "NUL"),
    ({"team": "bad\ud800"}, "UTF-8"),
    ({"team": True}, "bool"),
    ({"team": None}, "NoneType"),
    ({"k" * 251: "x"}, "250"),
])
def test_store_set_tags_refuses_what_run_set_tags_refuses(
        sqlite_url: str, tags: dict, message: str) -> None:
    from trackboard.loggers import Run

    with Run(name="tagged", store=sqlite_url, system_metrics=False) as run:
        with pytest.raises(ValueError, match=message):
            run.set_tags(tags)
    store = Store(sqlite_url)
    with pytest.raises(ValueError, match=message):
        store.set_tags(run.id, {"fine": "1", **tags})
    assert store.run(run.id)["tags"] == {}  # nothing of a refused call is written
    store.set_tags(run.id, {"seed": 3, "lr": 0.1})  # numbers become text, as for Run
    assert store.run(run.id)["tags"] == {"seed": "3", "lr": "0.1"}
