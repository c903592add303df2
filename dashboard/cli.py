"""The `trackboard` command: the outermost layer (nothing imports this module).

This module builds the group: the commands on the store itself (runs, show, db,
sync) are here, the others come from their own modules (cli_ui, cli_demo,
cli_transfer), which import heavy dependencies (Streamlit, TensorBoard,
frameworks) lazily and never import this module. So the installed `trackboard`
script and `python -m trackboard.dashboard.cli` (this file run as __main__) get
the same commands. What every command shares (--store, one-line errors) is in
cli_store.py.
"""

from __future__ import annotations

import json
import sys

import click
from trackboard.dashboard.cli_demo import demo_cmd
from trackboard.dashboard.cli_store import (
    OneLineErrors,
    checks_store_unless_spooled,
    friendly,
    open_store,
    store_option,
)
from trackboard.dashboard.cli_tables import run_table, runs_table
from trackboard.dashboard.cli_transfer import export_group, import_group
from trackboard.dashboard.cli_ui import ui_cmd
from trackboard.storage.errors import one_line


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="trackboard")
def cli() -> None:
    """trackboard: one experiment store for every framework."""


for _command in (demo_cmd, export_group, import_group, ui_cmd):
    cli.add_command(_command)


@cli.command("runs")
@store_option
@click.option("--project", default=None, help="Only runs of this project.")
@click.option("--filter", "filter_text", default=None, metavar="FILTER",
              help='Only runs that pass a filter, as on the Runs page: '
                   '\'params.lr < 0.01 and val_loss.min < 0.3\'.')
@click.option("--metrics", default=None, metavar="KEYS",
              help="Metric columns, comma-separated (default for the table: the three "
                   "people decide by, validation losses first; for csv and json: all).")
@click.option("--no-metrics", is_flag=True, help="No metric columns at all.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@friendly
def runs_cmd(store: str | None, project: str | None, filter_text: str | None,
             metrics: str | None, no_metrics: bool, fmt: str) -> None:
    """List runs, newest first. The table shows each metric's best value (the lowest
    of a loss, the highest of an accuracy) and its last."""
    from trackboard.dashboard.metric_choice import default_metrics

    chosen = [k.strip() for k in (metrics or "").split(",") if k.strip()]
    with open_store(store, read_only=True) as s:
        if not chosen and fmt == "table" and not no_metrics:
            chosen = default_metrics(s.keys())
        frame = s.runs(project=project, filter=filter_text or None, params=fmt != "table",
                       metrics=not no_metrics, metric_keys=chosen or None)
    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
        return
    if fmt == "json":
        click.echo(frame.to_json(orient="records", date_format="iso", indent=2))
        return
    if frame.empty:
        where = " in project " + repr(project) if project else ""
        click.echo(f"no runs{where}" + (" pass the filter" if filter_text else " yet"))
        return
    click.echo(runs_table(frame, [] if no_metrics else chosen))


@cli.command("show")
@click.argument("run_id")
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@friendly
def show_cmd(run_id: str, store: str | None, as_json: bool) -> None:
    """Everything about one run (a unique id prefix is enough)."""
    with open_store(store, read_only=True) as s:
        info = s.run(run_id)
    if as_json:
        click.echo(json.dumps(info, default=str, indent=2))
        return
    click.echo(run_table(info))


@cli.group("db")
def db_group() -> None:
    """Database schema commands."""


@db_group.command("upgrade")
@store_option
@click.option("--allow-foreign-tables", is_flag=True,
              help="Add trackboard's tables to a database that already holds other "
                   "applications' tables (refused without this flag).")
@friendly
def db_upgrade(store: str | None, allow_foreign_tables: bool) -> None:
    """Create or upgrade the store's schema to this version of trackboard.

    A store from before chunked points (schema 0004 or older) is readable as soon as
    its schema is upgraded; its points are then sealed into chunks with a progress
    bar. Interrupting that is safe: the store stays readable, and running the command
    again goes on where it stopped.
    """
    from trackboard.storage.db.convert import seal_heads
    from trackboard.storage.db.engine import build_engine
    from trackboard.storage.db.migrate import check_sqlite_file, upgrade
    from trackboard.storage.db.urls import mask_url

    # Refuse a file that is no store before our connection switches it to WAL mode.
    check_sqlite_file(store, allow_foreign_tables=allow_foreign_tables)
    engine = build_engine(store)
    try:
        before, after = upgrade(engine, allow_foreign_tables=allow_foreign_tables)
        where = mask_url(engine.url)
        if before == after:
            click.echo(f"{where} is up to date (schema {after})")
        else:
            click.echo(f"upgraded {where} from schema {before or '(empty)'} to {after}")
        sealed = seal_heads(engine, progress=sys.stderr.isatty())
        if sealed:
            click.echo(f"sealed {sealed:,} points into chunks")
    finally:
        engine.dispose()


@db_group.command("downgrade")
@store_option
@click.argument("revision")
@friendly
def db_downgrade(store: str | None, revision: str) -> None:
    """Take the store's schema back to REVISION (e.g. 0004, for an older trackboard).

    Going below 0005 writes every chunked point back as a row (the store grows about
    7x); below 0004 drops every histogram, image and text.
    """
    from trackboard.storage.db.engine import build_engine
    from trackboard.storage.db.migrate import check_schema, check_sqlite_file, downgrade
    from trackboard.storage.db.urls import mask_url

    # The checks every command makes (not a store, another application's, too new, too
    # old), before our connection switches a SQLite file to WAL mode.
    check_sqlite_file(store)
    engine = build_engine(store)
    try:
        check_schema(engine, create=False)
        before, after = downgrade(engine, revision)
    finally:
        engine.dispose()
    click.echo(f"downgraded {mask_url(engine.url)} from schema {before} to {after}")


@db_group.command("current")
@store_option
@friendly
def db_current(store: str | None) -> None:
    """Show the schema version of the store and the one this trackboard needs.

    Exits 1 (after the versions) when the store needs `trackboard db upgrade`, and
    with one error line when it is not a trackboard store or cannot be opened.
    """
    from trackboard.storage.db.engine import build_engine
    from trackboard.storage.db.migrate import (
        check_schema,
        current_revision,
        head_revision,
    )
    from trackboard.storage.errors import SchemaOutdatedError, SchemaTooNewError

    engine = build_engine(store, read_only=True)
    try:
        with engine.connect() as conn:
            rev = current_revision(conn)
        try:
            check_schema(engine, create=False)
            problem = None
        except (SchemaOutdatedError, SchemaTooNewError) as exc:
            problem = exc if rev is not None else None  # an empty store is fine here
    finally:
        engine.dispose()
    versions = f"database: {rev or '(empty)'}; this trackboard: {head_revision()}"
    if problem is not None:
        raise click.ClickException(f"{versions}; {one_line(problem)}")
    click.echo(versions)


@cli.command("sync")
@store_option
@friendly
@checks_store_unless_spooled
def sync_cmd(store: str | None) -> None:
    """Deliver points left in the local spool (by runs that ended during an outage)."""
    from trackboard.storage.write.sync import deliver_spool

    result = deliver_spool(store)
    click.echo(result.summary())
    if result.problem:  # set aside or still waiting: exit 1, said in one line
        raise click.ClickException(result.problem)


def main() -> None:
    cli(prog_name="trackboard")


if __name__ == "__main__":
    main()
