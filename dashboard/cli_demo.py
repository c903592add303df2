"""`trackboard demo`: fill a store with comparable runs from every installed framework."""

from __future__ import annotations

import time

import click

from trackboard.dashboard.cli import cli, friendly, store_option


@cli.command("demo")
@store_option
@click.option("--fast", is_flag=True,
              help="Fewer samples, epochs and settings (about half the time).")
@friendly
def demo_cmd(store: str | None, fast: bool) -> None:
    """Train a small insurance-claims classifier in Keras, PyTorch, Lightning and
    JAX/Flax (those installed), a few hyperparameter settings each, into the store."""
    from trackboard.loggers.demo import PROJECT, run_demo
    from trackboard.storage.urls import mask_url, resolve_url

    url = resolve_url(store)
    click.echo(f"Training the insurance-claims demo into {mask_url(url)} "
               f"(project {PROJECT!r})...")
    start = time.perf_counter()
    made = run_demo(url, fast=fast, report=click.echo)
    if not made:
        raise click.ClickException("no framework is installed to train the demo: "
                                   "pip install 'trackboard[keras,torch]'")
    frameworks = sorted({run.framework for run in made})
    click.echo(f"Made {len(made)} runs ({', '.join(frameworks)}) in "
               f"{time.perf_counter() - start:.0f}s.")
    open_cmd = "trackboard ui" if store is None else f"trackboard ui --store {store}"
    click.echo(f"Open the dashboard:  {open_cmd}")
