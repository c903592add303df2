"""Everything the store would refuse is refused at the call, with a ValueError that
says what to do, the same on SQLite and PostgreSQL; and nothing else logged in the
process is lost because of it. Hyperparameters of any type are stored (as JSON where
possible, else readable text) when they come through a framework hook."""

from __future__ import annotations

import datetime
import enum
import math
from argparse import Namespace
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from trackboard.loggers import Run
from trackboard.loggers.param_values import flatten, param_json, param_value
from trackboard.storage import Store

SURROGATE = "bad\ud800"
NUL = "bad\x00text"


def _deep(levels: int) -> dict[str, Any]:
    root = node = {}
    for _ in range(levels):
        node["a"] = {}
        node = node["a"]
    node["x"] = 1
    return root


def _cyclic() -> dict[str, Any]:
    cfg: dict[str, Any] = {"lr": 0.1, "opt": {"name": "adam"}}
    cfg["opt"]["parent"] = cfg
    return cfg


def _list_cycle() -> dict[str, Any]:
    items: list[Any] = [1]
    items.append(items)
    return {"layers": items}


# (what is called, the part of the message that says what is wrong)
BAD_CALLS = [
    (lambda run: run.log({SURROGATE: 1.0}), "UTF-8"),
    (lambda run: run.log({NUL: 1.0}), "control characters"),
    (lambda run: run.log({"x": 10**400}), "beyond float64"),
    (lambda run: run.log({"x": -10**400}, step=3), "beyond float64"),
    (lambda run: run.log({"x": Fraction(10**400, 7)}), "beyond float64"),
    (lambda run: run.log({"x": 1.0}, wall_time=10**400), "finite"),
    (lambda run: run.log_params({SURROGATE: 1}), "UTF-8"),
    (lambda run: run.log_params({"p": SURROGATE}), "param 'p'.*UTF-8"),
    (lambda run: run.log_params({"p": ["ok", {"deep": NUL}]}), "param 'p'.*NUL"),
    (lambda run: run.log_params({"p": {"k\ud800": 1, "other": [1]}}), "UTF-8"),
    (lambda run: run.log_params({"p": {NUL: [1]}}), "control characters"),
    (lambda run: run.log_params({"p": [{NUL: 1}]}), "NUL"),
    (lambda run: run.log_params({"big": 10**400}), "param 'big'.*beyond float64"),
    (lambda run: run.log_params({"big": [1, np.array([2]), 2**1100]}), "beyond float64"),
    (lambda run: run.log_params(_cyclic()), "contains itself"),
    (lambda run: run.log_params(_list_cycle()), "param 'layers'.*contains itself"),
    (lambda run: run.log_params(_deep(3000)), "deeper than 100 levels"),
    (lambda run: run.log_params({"layers": _nested_lists(150)}), "deeper than 100 levels"),
    (lambda run: run.set_tags({"team": SURROGATE}), "tag 'team'.*UTF-8"),
    (lambda run: run.set_tags({"team": NUL}), "tag 'team'.*NUL"),
    (lambda run: run.set_tags({"t\ud800": "x"}), "UTF-8"),
]


def _nested_lists(levels: int) -> list[Any]:
    value: list[Any] = [1]
    for _ in range(levels):
        value = [value]
    return value


BAD_RUNS = [
    (dict(name=SURROGATE), "UTF-8"),
    (dict(name=NUL), "control characters"),
    (dict(project="p\ud800"), "UTF-8"),
    (dict(tags={"team": NUL}), "NUL"),
    (dict(notes=NUL), "notes.*NUL"),
    (dict(notes="n\udfff"), "notes.*UTF-8"),
    (dict(framework="k\x00"), "NUL"),
    (dict(config={"fn": object()}), "param 'fn'.*cannot be stored"),
    (dict(config=_cyclic()), "contains itself"),
    (dict(config=_deep(3000)), "deeper than 100 levels"),
    (dict(config={"lr": 10**400}), "beyond float64"),
]


@pytest.mark.parametrize("call, message", BAD_CALLS)
def test_bad_values_raise_at_the_call_and_nothing_else_is_lost(store_url: str, call: Any,
                                                               message: str) -> None:
    bystander = Run(project="other", name="bystander", store=store_url, system_metrics=False)
    run = Run(name="victim", store=store_url, system_metrics=False)
    bystander.log({"loss": 1.0}, step=0)
    run.log({"loss": 2.0}, step=0)
    with pytest.raises(ValueError, match=message):
        call(run)
    bystander.log({"loss": 0.5}, step=1)
    run.log({"loss": 1.5}, step=1)
    run.finish()
    bystander.finish()
    store = Store(store_url)
    assert store.history([bystander.id])["value"].tolist() == [1.0, 0.5]
    assert store.history([run.id])["value"].tolist() == [2.0, 1.5]
    assert sorted(store.runs()["status"]) == ["finished", "finished"]


@pytest.mark.parametrize("kwargs, message", BAD_RUNS)
def test_bad_run_arguments_raise_before_anything_is_sent(store_url: str, kwargs: dict,
                                                         message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Run(store=store_url, system_metrics=False, **kwargs)
    ok = Run(name="fine", store=store_url, system_metrics=False)
    ok.log({"x": 1.0})
    ok.finish()
    runs = Store(store_url).runs()
    assert runs["name"].tolist() == ["fine"]  # the refused Run left nothing behind


class Colour(enum.Enum):
    RED = "red"


@dataclass
class Optim:
    name: str = "adam"
    betas: tuple[float, float] = (0.9, 0.99)


def _hyperparameter_zoo() -> dict[str, Any]:
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"model": {"layers": [64, 64], "act": "relu"},
                            "lr": "${optim.lr}", "optim": {"lr": 0.01}})
    return {
        "complex": np.complex128(1 + 2j),
        "py_complex": complex(0.5, -1),
        "when": np.datetime64("2024-05-01T12:30"),
        "date": datetime.date(2024, 5, 1),
        "dt": datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc),
        "delta": np.timedelta64(3, "h"),
        "omega": cfg,
        "omega_list": OmegaConf.create([1, {"a": 2}]),
        "args": Namespace(lr=0.1, sub=Namespace(depth=3)),
        "tags": {"b", "a", "c"},
        "colour": Colour.RED,
        "optim": Optim(),
        "path": Path("/data/train"),
        "fn": len,
        "obj": object(),
        "huge_int": 10**400,
        "nan": float("nan"),
        "text": SURROGATE,
        "nul": NUL,
        "cycle": _cyclic(),
        "deep": _deep(3000),
        "big_array": np.zeros(5000),
        "bytes": b"\xffab",
    }


def test_param_value_relaxed_stores_any_hyperparameter(store_url: str) -> None:
    zoo = _hyperparameter_zoo()
    relaxed = {k: param_value(v, strict=False) for k, v in zoo.items()}  # never raises
    run = Run(store=store_url, system_metrics=False)
    run.log_params(relaxed)  # the strict path accepts whatever the relaxed one made
    run.finish()
    params = Store(store_url).run(run.id)["params"]
    assert params["complex"] == "1+2j" and params["py_complex"] == "0.5-1j"
    assert params["when"] == "2024-05-01T12:30" and params["date"] == "2024-05-01"
    assert params["dt"] == "2024-05-01T12:30:00+00:00" and params["delta"] == "3 hours"
    assert params["omega.model.layers"] == [64, 64] and params["omega.lr"] == 0.01
    assert params["omega_list"] == [1, {"a": 2}]
    assert params["args.lr"] == 0.1 and params["args.sub.depth"] == 3
    assert params["tags"] == ["a", "b", "c"] and params["colour"] == "red"
    assert params["optim.name"] == "adam" and params["optim.betas"] == [0.9, 0.99]
    assert params["path"] == "/data/train" and "built-in function len" in params["fn"]
    assert params["obj"].startswith("<object object")
    assert params["huge_int"] == str(10**400)
    assert math.isnan(params["nan"])
    assert params["text"] == "bad\ufffd" and params["nul"] == "bad\ufffdtext"
    assert params["cycle.opt.parent"] == "<cycle>" and params["cycle.lr"] == 0.1
    deep = [v for k, v in params.items() if k.startswith("deep.")]
    assert deep == ["<nested deeper than 64 levels>"]
    assert params["big_array"].startswith("[0. 0. 0.") and params["bytes"] == "\\xffab"


def test_strict_params_convert_what_has_a_faithful_json_form(sqlite_url: str) -> None:
    zoo = _hyperparameter_zoo()
    faithful = {k: zoo[k] for k in ("complex", "when", "omega", "args", "tags", "colour",
                                    "optim", "path", "date", "delta")}
    run = Run(store=sqlite_url, config=faithful, system_metrics=False)
    run.finish()
    params = Store(sqlite_url).run(run.id)["params"]
    assert params["omega.optim.lr"] == 0.01 and params["args.sub.depth"] == 3
    assert params["tags"] == ["a", "b", "c"] and params["complex"] == "1+2j"


def test_relaxed_values_are_plain_json_even_for_broken_objects() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    class Endless:  # a Sequence-like object that fails half way
        def __len__(self) -> int:
            return 3

        def __getitem__(self, i: int) -> int:
            raise KeyError(i)

    from omegaconf import OmegaConf

    missing = OmegaConf.create({"must": "???", "ok": 1})
    for value in (Broken(), Endless(), missing, {"k": Broken()}, [Broken()] * 3):
        text = param_json(value, strict=False)
        assert isinstance(text, str) and "\ud800" not in text
    assert param_value(Broken(), strict=False) == "<Broken object>"


def test_flatten_and_param_value_never_hit_the_recursion_limit() -> None:
    deep = _deep(5000)
    with pytest.raises(ValueError, match="deeper than 100"):
        flatten(deep)
    with pytest.raises(ValueError, match="deeper than 100"):
        param_value(_nested_lists(5000))
    # Relaxed: kept as deep as it can be, then a marker that says what was cut.
    relaxed, depth = param_value(_nested_lists(5000), strict=False), 0
    while isinstance(relaxed, list):
        relaxed, depth = relaxed[0], depth + 1
    assert (depth, relaxed) == (64, "<nested deeper than 64 levels>")
    # 100 levels are fine, and so is the same object twice (not a cycle)
    shared = {"lr": 0.1}
    assert flatten({"a": shared, "b": shared}) == {"a.lr": 0.1, "b.lr": 0.1}
    assert param_value([shared, shared]) == [{"lr": 0.1}, {"lr": 0.1}]
    assert len(flatten(_deep(98))) == 1
