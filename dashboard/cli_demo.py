"""`trackboard demo`: fill a store with comparable runs from every installed framework."""

from __future__ import annotations

import shlex
import time

import click
from trackboard.dashboard.cli_store import checks_store, friendly, store_option


@click.command("demo")
@store_option
@click.option("--fast", is_flag=True,
              help="Fewer samples, epochs and settings (about half the time).")
@friendly
@checks_store  # an unusable store fails now, not after minutes of training into the spool
def demo_cmd(store: str | None, fast: bool) -> None:
    """Train a small insurance-claims classifier in Keras, PyTorch, Lightning and
    JAX/Flax (those installed), a few hyperparameter settings each, into the store."""
    from trackboard.dashboard.number_format import counted
    from trackboard.loggers.demo import PROJECT, run_demo
    from trackboard.storage.db.urls import mask_url, resolve_url

    url = resolve_url(store)
    click.echo(f"Training the insurance-claims demo into {mask_url(url)} "
               f"(project {PROJECT!r})...")
    start = time.perf_counter()
    made = run_demo(url, fast=fast, report=click.echo)
    if not made:
        raise click.ClickException("no framework is installed to train the demo: "
                                   "pip install 'trackboard[keras,torch]'")
    frameworks = sorted({run.framework for run in made})
    click.echo(f"Made {counted(len(made), 'run')} ({', '.join(frameworks)}) in "
               f"{time.perf_counter() - start:.0f}s.")
    click.echo(f"Open the dashboard:  {ui_command(store)}")


def ui_command(store: str | None) -> str:
    """The `trackboard ui` line to print, never with the password in it.

    >>> ui_command("postgresql://bob:p@ss@db/runs")
    "trackboard ui --store 'postgresql://bob:***@db/runs'  (your password in place of ***)"
    >>> ui_command(None)
    'trackboard ui'
    """
    from trackboard.storage.db.urls import mask_url, parse_url

    if store is None:
        return "trackboard ui"
    line = f"trackboard ui --store {shlex.quote(mask_url(store))}"
    return line + ("  (your password in place of ***)" if parse_url(store).password else "")
