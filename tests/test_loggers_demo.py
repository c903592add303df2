"""`trackboard demo`: every installed framework trains the claims task into the store."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from trackboard.dashboard.cli import cli
import numpy as np
from trackboard.loggers.demo import PROJECT, make_claims
from trackboard.loggers.demo_media import MAP_AXES, RISK_MAPS, WEIGHT_KEYS
from trackboard.storage import Store
from trackboard.storage.media.images import decode_image

from tests.support.loggers import series

FRAMEWORKS = {"keras", "torch", "lightning", "jax"}  # all installed where tests run
SHARED_KEYS = {"loss", "val_loss", "accuracy", "val_accuracy", "epoch"}


@pytest.mark.slow
def test_demo_fills_the_store_with_comparable_runs(sqlite_url: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_BACKEND", "torch")  # the demo's choice, kept out of os.environ
    result = CliRunner().invoke(cli, ["demo", "--fast", "--store", sqlite_url])
    assert result.exit_code == 0, result.output
    assert "Made 8 runs (jax, keras, lightning, torch)" in result.output
    assert f"trackboard ui --store {sqlite_url}" in result.output

    with Store(sqlite_url) as store:
        runs = store.runs(project=PROJECT)
    assert len(runs) == 8 and set(runs["status"]) == {"finished"}
    assert runs.groupby("framework").size().to_dict() == {f: 2 for f in FRAMEWORKS}
    steps = {}
    for run in runs.itertuples():
        stored = series(sqlite_url, run.id)
        assert SHARED_KEYS <= set(stored), (run.framework, sorted(stored))
        assert [v for _, v in stored["epoch"]] == [0.0, 1.0, 2.0], run.framework
        assert all(0.5 < v <= 1.0 for _, v in stored["val_accuracy"]), run.framework
        steps[run.name] = {k: [s for s, _ in stored[k]] for k in ("loss", "val_accuracy")}
    # One schedule, one step meaning (updates completed): 960 examples in batches of
    # 128 are 8 updates an epoch, the last batch partial, in every framework.
    assert {str(v) for v in steps.values()} == {str({"loss": [8, 16, 24],
                                                     "val_accuracy": [8, 16, 24]})}, steps
    # The common vocabulary (docs/hyperparameters.md), from the adapters: a filter
    # on params.lr selects the same setting in every framework.
    for column in ("lr", "optimizer", "batch_size", "epochs", "seed"):
        assert runs[f"params.{column}"].notna().all(), column
    assert set(runs["params.lr"]) == {0.01, 0.003}
    # Each setting once under its common name: the demo writes `lr`, and no adapter
    # adds a copy (Keras' own optimizer config keeps its `optimizer.learning_rate`).
    assert "params.learning_rate" not in runs.columns
    keras_runs = runs[runs["framework"] == "keras"]
    assert set(keras_runs["params.optimizer.name"]) == {"adam"}  # not adam_1, adam_2
    assert set(runs["params.optimizer"]) == {"Adam"}
    assert set(runs["params.epochs"]) == {3} and set(runs["params.batch_size"]) == {128}
    has = runs.set_index("name").filter(like="params.").notna()
    assert has.loc[has.index.str.startswith("lightning"), "params.precision"].all()
    assert has.loc[has.index.str.startswith("keras"), "params.precision"].all()
    assert has.loc[has.index.str.startswith("torch"), "params.weight_decay"].all()
    # A short demo run has system metrics too: a finish sample always, and a start
    # sample once it has lived past the 0.1 s CPU window (the fast plan's torch runs
    # train for ~0.1 s after their Run starts: under load they get the finish one only).
    for run in runs.itertuples():
        cpu = series(sqlite_url, run.id, system=True)["system/cpu_percent"]
        lived = run.duration  # seconds
        assert [s for s, _ in cpu][:1] == [0], run.name
        assert len(cpu) >= (2 if lived > 1.0 else 1), (run.name, lived, cpu)
    _check_media(sqlite_url, runs)


def _check_media(store_url: str, runs) -> None:  # type: ignore[no-untyped-def]
    """Every framework's runs hold their weight histograms (under the same keys, the
    names Keras' TensorBoard callback gives them) and a strip of risk maps per epoch."""
    keys = sorted(k for layer in WEIGHT_KEYS.values() for k in layer.values())
    with Store(store_url) as store:
        for run in runs.itertuples():
            hidden = int(runs.set_index("id").loc[run.id, "params.hidden"])
            h = store.histograms(run.id)
            assert sorted(set(h.key)) == keys, run.name
            assert set(h.groupby("key")["step"].apply(tuple)) == {(8, 16, 24)}, run.name
            sizes = h[h.step == 8].set_index("key")["count"].to_dict()
            assert sizes == {WEIGHT_KEYS["hidden"]["kernel"]: 8 * hidden,
                             WEIGHT_KEYS["hidden"]["bias"]: hidden,
                             WEIGHT_KEYS["output"]["kernel"]: hidden,
                             WEIGHT_KEYS["output"]["bias"]: 1}, run.name
            images = store.images(run.id)
            assert set(images.key) == {RISK_MAPS}, run.name
            assert images[["step", "index"]].values.tolist() == [
                [s, i] for s in (8, 16, 24) for i in range(len(MAP_AXES))], run.name
            assert set(zip(images.width, images.height, images.channels)) == {(64, 64, 3)}
            first, last = (decode_image(store.image_bytes(images.hash.iloc[i]), 3)
                           for i in (0, -2))
            assert first.std() > 0 and not np.array_equal(first, last), run.name  # it learned


def test_the_claims_data_is_seeded_and_learnable() -> None:
    a, b = make_claims(500), make_claims(500)
    assert (a.x_train == b.x_train).all() and (a.y_val == b.y_val).all()
    assert 0.2 < a.y_train.mean() < 0.45  # both classes present, neither trivial
    assert abs(a.x_train.mean()) < 0.2
    # The first features carry signal: prior claims raise the claim rate.
    prior = a.x_train[:, 3]
    assert a.y_train[prior > 0.5].mean() > a.y_train[prior <= 0.5].mean() + 0.1
