"""`trackboard export ...` and `trackboard import ...`: runs to and from other viewers.

The work happens in trackboard.storage (tensorboard, visdom, export), which the
dashboard's Export page calls too; these commands only parse options and print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from trackboard.dashboard.cli_store import checks_store, friendly, store_option

_RUN_HELP = "Export this run (id or unique prefix); repeat for several. Default: all runs."
_PROJECT_HELP = "Only runs of this project."


class NewFile(click.Path):
    """A file to write: its folder must exist, so a typo there is a usage error in one
    line before anything is read, not an `[Errno 2]` at the end of the export."""

    def __init__(self) -> None:
        super().__init__(dir_okay=False)

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        path = super().convert(value, param, ctx)
        folder = Path(path).parent
        if not folder.is_dir():
            self.fail(f"the folder {str(folder)!r} does not exist", param, ctx)
        return path


def _selection(f):  # type: ignore[no-untyped-def]
    f = click.option("--run", "run_ids", multiple=True, metavar="RUN_ID", help=_RUN_HELP)(f)
    f = click.option("--project", default=None, help=_PROJECT_HELP)(f)
    return store_option(f)


@click.group("export")
def export_group() -> None:
    """Export runs to TensorBoard, Visdom, CSV or Parquet."""


@click.group("import")
def import_group() -> None:
    """Import runs from other trackers' logs."""


@export_group.command("tensorboard")
@click.argument("outdir", type=click.Path(file_okay=False))
@_selection
@friendly
def export_tensorboard_cmd(outdir: str, store: str | None, project: str | None,
                           run_ids: tuple[str, ...]) -> None:
    """Write runs as TensorBoard event files under OUTDIR (one directory per run).

    Exporting again into the same OUTDIR replaces the runs' files, never duplicates them.
    """
    from trackboard.storage.interchange.tensorboard import export_tensorboard

    result = export_tensorboard(store, outdir, run_ids=run_ids or None, project=project,
                                progress=True)
    click.echo(result.summary())


@import_group.command("tensorboard")
@click.argument("logdir", type=click.Path(exists=True, file_okay=False))
@store_option
@click.option("--project", default=None,
              help="Project for the imported runs (default: the logdir's folder name).")
@friendly
@checks_store
def import_tensorboard_cmd(logdir: str, store: str | None, project: str | None) -> None:
    """Import every run of a TensorBoard LOGDIR (scalars, histograms, images, texts, hparams).

    Every directory holding event files is a run. Importing the same LOGDIR again
    updates the same runs instead of adding new ones.
    """
    from trackboard.storage.interchange.tensorboard import import_tensorboard

    result = import_tensorboard(logdir, store, project=project, progress=True,
                                warn=lambda msg: click.echo(f"warning: {msg}", err=True))
    click.echo(result.summary())


@export_group.command("visdom")
@click.option("--server", default="http://127.0.0.1", show_default=True,
              help="Visdom server address.")
@click.option("--port", default=8097, show_default=True, type=int)
@click.option("--env", default="main", show_default=True, help="Visdom environment.")
@_selection
@click.option("--follow", is_flag=True,
              help="Keep appending new points of running runs until they finish.")
@click.option("--poll", "poll_interval", default=2.0, show_default=True, type=float,
              help="Seconds between store polls with --follow.")
@click.option("--max-points", default=10_000, show_default=True, type=int,
              help="Points per trace (min/max downsampled beyond; 0 = all).")
@click.option("--max-media-steps", default=50, show_default=True, type=int,
              help="Steps per histogram or image window (evenly spread; 0 = all).")
@friendly
@checks_store  # before the Visdom client connects (and prints its own lines)
def export_visdom_cmd(server: str, port: int, env: str, store: str | None,
                      project: str | None, run_ids: tuple[str, ...], follow: bool,
                      poll_interval: float, max_points: int, max_media_steps: int) -> None:
    """Push runs to a Visdom server: one window per metric, one trace per run; one
    histogram and one image window per key and run, with a step slider."""
    from trackboard.storage.interchange.visdom import export_visdom

    result = export_visdom(store, server=server, port=port, env=env,
                           run_ids=run_ids or None, project=project, follow=follow,
                           poll_interval=poll_interval, max_points=max_points or None,
                           max_media_steps=max_media_steps or None, echo=click.echo)
    click.echo(result.summary())


def _points_command(fmt: str, help_text: str) -> click.Command:
    """`trackboard export csv|parquet OUT [--kind ...]`: the runs' points (or
    histograms, images, texts) into one file."""

    @click.command(fmt, help=help_text)
    @click.argument("out", type=NewFile())
    @_selection
    @click.option("--kind", type=click.Choice(["points", "histograms", "images", "texts"]),
                  default="points", show_default=True,
                  help="What to write, one row per value (docs/interchange.md).")
    @friendly
    def export_points_cmd(out: str, store: str | None, project: str | None,
                          run_ids: tuple[str, ...], kind: str) -> None:
        from trackboard.dashboard.number_format import counted
        from trackboard.storage.interchange.files import export_points
        from trackboard.storage.interchange.media_files import export_media

        if kind == "points":
            rows = export_points(store, out, fmt, run_ids=run_ids or None, project=project)
        else:
            rows = export_media(store, out, fmt, kind, run_ids=run_ids or None,
                                project=project)
        click.echo(f"wrote {counted(rows, 'row')} to {out}")
    return export_points_cmd


export_group.add_command(_points_command(
    "csv", "Write every point as CSV rows: run_id, run_name, key, step, wall_time, value "
    "(--kind histograms or texts: one row per value)."))
export_group.add_command(_points_command(
    "parquet", "Write every point to a Parquet file (needs pip install 'trackboard[parquet]'; "
    "--kind histograms, images or texts: one row per value)."))
