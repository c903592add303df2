"""Stores whose schema is not this trackboard's, for the tests of what refuses them."""

from __future__ import annotations

from sqlalchemy import text
from trackboard.storage import Store
from trackboard.storage.db.engine import build_engine


def newer_schema(url: str) -> str:
    """Make `url` a store written by a newer trackboard (schema "9999"); returns it."""
    Store(url).close()
    engine = build_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    return url
