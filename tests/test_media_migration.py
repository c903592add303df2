"""Migration 0004 (media tables) up and down on a store that holds data, on SQLite and
PostgreSQL: scalars survive both ways, media work after the upgrade and are gone after
the downgrade (issue 20, item 3)."""

from __future__ import annotations


import numpy as np
from alembic import command
from click.testing import CliRunner
from sqlalchemy import inspect, text
from trackboard.dashboard.cli import cli
from trackboard.loggers import Histogram, Image, Run, Text
from trackboard.storage import Store
from trackboard.storage.db.engine import build_engine
from trackboard.storage.db.migrate import _config

from tests.support.old_layout import write_old_run

MEDIA_TABLES = {"media_series", "histograms", "images", "texts", "blobs"}


def _migrate(url: str, how: str, revision: str) -> None:
    engine = build_engine(url)
    with engine.begin() as conn:
        getattr(command, how)(_config(conn), revision)
    engine.dispose()


def _state(url: str) -> tuple[str, set[str]]:
    engine = build_engine(url)
    with engine.connect() as conn:
        rev = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    return rev, tables


def _log_media(url: str, name: str) -> str:
    with Run(name=name, store=url, system_metrics=False) as run:
        run.log({"h": Histogram(np.arange(10.0), bins=5), "loss": 0.5,
                 "img": Image(np.zeros((2, 3, 3), np.uint8)), "t": Text("hello")}, step=1)
    return run.id


def test_migration_0004_up_and_down_keeps_the_scalars(store_url: str) -> None:
    _migrate(store_url, "upgrade", "0003")
    engine = build_engine(store_url)
    write_old_run(engine, "old", "p", "before media", {"loss": [(s, float(s)) for s in range(20)]})
    engine.dispose()
    assert _state(store_url) == ("0003", _state(store_url)[1])
    assert not MEDIA_TABLES & _state(store_url)[1]

    _migrate(store_url, "upgrade", "0004")
    rev, tables = _state(store_url)
    assert rev == "0004" and MEDIA_TABLES <= tables
    _migrate(store_url, "upgrade", "head")
    new = _log_media(store_url, "with media")
    store = Store(store_url)
    assert store.histograms(new)["count"].tolist() == [10.0]
    assert len(store.images(new)) == 1 and store.texts(new).text.tolist() == ["hello"]
    assert store.history("old")["value"].tolist() == [float(s) for s in range(20)]
    store.close()

    _migrate(store_url, "downgrade", "0003")  # through 0004: chunks back to rows
    rev, tables = _state(store_url)
    assert rev == "0003" and not MEDIA_TABLES & tables
    _migrate(store_url, "upgrade", "head")
    store = Store(store_url)
    assert store.history("old")["value"].tolist() == [float(s) for s in range(20)]
    assert store.history(new)["value"].tolist() == [0.5]
    assert store.media_keys([new, "old"]).empty  # the downgrade dropped them
    again = _log_media(store_url, "after the round trip")
    assert store.histograms(again)["count"].tolist() == [10.0]
