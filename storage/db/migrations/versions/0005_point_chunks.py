"""Chunked points: the points table becomes the head, sealed chunks beside it, and a
view `points` that shows both as one row per point.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08

Upgrading only renames and creates (instant, whatever the store's size): every point
stays a head row, which readers read as before. `trackboard db upgrade` then seals the
heads into chunks in transactions of its own (storage/db/convert.py), so a kill
leaves a readable store and the next run of the command goes on where it stopped.
Downgrading writes every chunk's points back as rows first.

Self-contained (as 0001): it must keep creating exactly these objects after schema.py
moves on. The chunk format is chunk_codec's version 1.
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The view: one row per point, as Store.history returns them (run_id is the run's id
# as users see it, key the metric's name). On SQLite a chunk is a compressed blob,
# unnested through trackboard_chunk(), which trackboard registers on its connections
# (storage/db/engine.py); on PostgreSQL it is arrays, unnested by plain SQL: steps NULL
# when regular (first_step to last_step by a constant stride), values as REAL[] (vals4)
# when each is a float32 exactly, else DOUBLE PRECISION[] (vals); see
# storage/db/point_chunks.py, CHUNK_COLUMNS_PG.
_SQLITE_VIEW = """
CREATE VIEW points AS
SELECT r.uid AS run_id, k.name AS key, json_extract(j.value, '$[0]') AS step,
       json_extract(j.value, '$[1]') AS wall_time, json_extract(j.value, '$[2]') AS value
FROM point_chunks c JOIN runs r ON r.id = c.run_id JOIN metric_keys k ON k.id = c.key_id,
     json_each(trackboard_chunk(c.data)) j
UNION ALL
SELECT r.uid, k.name, h.step, h.wall_time, h.value
FROM points_head h JOIN runs r ON r.id = h.run_id JOIN metric_keys k ON k.id = h.key_id
"""
_POSTGRES_VIEW = """
CREATE VIEW points AS
SELECT r.uid AS run_id, k.name AS key, u.step, u.wall_time, u.value
FROM point_chunks c JOIN runs r ON r.id = c.run_id JOIN metric_keys k ON k.id = c.key_id
CROSS JOIN LATERAL unnest(
    COALESCE(c.steps, ARRAY(SELECT generate_series(c.first_step, c.last_step,
        CASE WHEN c.count > 1 THEN (c.last_step - c.first_step) / (c.count - 1) ELSE 1 END))),
    c.walls,
    COALESCE(c.vals, c.vals4::double precision[])) AS u(step, wall_time, value)
UNION ALL
SELECT r.uid, k.name, h.step, h.wall_time, h.value
FROM points_head h JOIN runs r ON r.id = h.run_id JOIN metric_keys k ON k.id = h.key_id
"""


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.rename_table("points", "points_head")
    if postgres:
        # The primary key's index keeps its old name; rename it with its table.
        op.execute("ALTER INDEX points_pkey RENAME TO points_head_pkey")
        array = sa.dialects.postgresql.ARRAY
        columns = [sa.Column("steps", array(sa.BigInteger), nullable=True),
                   sa.Column("walls", array(sa.Double), nullable=False),
                   sa.Column("vals", array(sa.Double), nullable=True),
                   sa.Column("vals4", array(sa.REAL), nullable=True),
                   sa.CheckConstraint("(vals IS NULL) <> (vals4 IS NULL)",
                                      name="ck_point_chunks_one_vals")]
    else:
        columns = [sa.Column("data", sa.LargeBinary, nullable=False)]
    op.create_table(
        "point_chunks",
        sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("key_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("first_step", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("last_step", sa.BigInteger, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        *columns,
        # With a rowid on SQLite: a table leaf keeps up to ~4 KB of a row, so a chunk's
        # overflow pages are filled; an index leaf (WITHOUT ROWID) keeps ~1 KB and left
        # most chunks' last overflow page half empty (schema.py).
    )
    op.execute(_POSTGRES_VIEW if postgres else _SQLITE_VIEW)


def downgrade() -> None:
    from trackboard.storage.db.point_chunks import PointLayout

    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    layout = PointLayout(bind.dialect.name)
    op.execute("DROP VIEW points")
    rows = bind.execute(sa.text(f"SELECT run_id, key_id, {layout.chunk_cols} "
                                "FROM point_chunks")).all()
    insert = sa.text("INSERT INTO points_head (run_id, key_id, step, wall_time, value) "
                     "VALUES (:r, :k, :s, :w, :v)")
    for row in rows:
        step, wall, value = layout.decode(tuple(row[2:]))
        # NaN as SQLite stores it (NULL); PostgreSQL keeps NaN, as the old writer did.
        bind.execute(insert, [{"r": row[0], "k": row[1], "s": s, "w": w,
                               "v": None if v != v and not postgres else v}
                              for s, w, v in zip(step.tolist(), wall.tolist(), value.tolist())])
    op.drop_table("point_chunks")
    op.rename_table("points_head", "points")
    if postgres:
        op.execute("ALTER INDEX points_head_pkey RENAME TO points_pkey")
