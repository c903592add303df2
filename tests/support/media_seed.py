"""Runs with histograms, images and texts logged through the public Run API, for the
media views' tests, benchmarks and screenshots (docs/screenshots.py).

Each run logs, every `every` steps, weight histograms that widen and drift as a real
training's do (`weights/fc1`, `weights/fc2`, `grads/fc1`), a strip of three digit
images (`samples`, 28 x 28 grey, captioned), one colour image (`inputs/rgb`, 48 x 48)
and a note (`notes`), beside a `loss` scalar.
"""

from __future__ import annotations

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw
from trackboard.loggers import Histogram, Image, Run, Text

FRAMEWORKS = ("keras", "torch")


def digit(value: int, shade: int = 255, size: int = 28) -> np.ndarray:
    """A grey size x size image of a digit, drawn with PIL's default font."""
    img = PILImage.new("L", (size, size), 0)
    draw = ImageDraw.Draw(img)
    draw.text((size // 2, size // 2), str(value % 10), fill=shade, anchor="mm",
              font_size=size - 6)
    return np.asarray(img)


def colour_image(step: int, run: int, size: int = 48) -> np.ndarray:
    """An RGB gradient that changes with the step and the run."""
    y, x = np.mgrid[0:size, 0:size] / (size - 1)
    phase = step / 100 + run
    rgb = np.stack([x, (np.sin(6 * y + phase) + 1) / 2, 1 - x * y], axis=-1)
    return (rgb * 255).astype(np.uint8)


def log_media(run: Run, index: int, step: int, rng: np.random.Generator,
              images: bool = True) -> None:
    """One step's media of run number `index` (its numbers depend on both)."""
    t = step / 100
    spread = 0.05 + 0.02 * t * (1 + index)
    values: dict[str, object] = {
        "loss": float(np.exp(-t / (2 + index)) + 0.05 * index),
        "weights/fc1": Histogram(rng.normal(0.02 * t * index, spread, 4096), bins=48),
        "weights/fc2": Histogram(np.r_[rng.normal(-0.1 * t, 0.05 + 0.01 * t, 2048),
                                       rng.normal(0.1 * t, 0.05, 2048)], bins=48),
        "grads/fc1": Histogram(rng.standard_t(3, 2048) * 0.01 / (1 + t), bins=48),
        "notes": Text(f"step {step}: lr {0.01 / (1 + index):g}"),
    }
    if images:
        values["samples"] = [Image(digit(step // 10 + j + index), caption=f"label {(step // 10 + j + index) % 10}")
                             for j in range(3)]
        values["inputs/rgb"] = Image(colour_image(step, index))
    run.log(values, step=step)


def seed_media(url: str, runs: int = 2, steps: range = range(0, 201, 20), *,
               frameworks: tuple[str, ...] = FRAMEWORKS, images: bool = True,
               project: str = "media") -> list[str]:
    """`runs` finished runs (frameworks taken in turn) with media; their ids in order."""
    ids = []
    for i in range(runs):
        fw = frameworks[i % len(frameworks)]
        rng = np.random.default_rng(i)
        with Run(project=project, name=f"{fw}-{i}", framework=fw, store=url,
                 config={"lr": 0.01 / (1 + i), "hidden": 32}, system_metrics=False) as run:
            for step in steps:
                log_media(run, i, step, rng, images)
        ids.append(run.id)
    return ids


def figure_json(spec: str) -> dict:
    """A figure's JSON (`fig.to_json()`, or an AppTest chart's `proto.spec`) with Plotly's
    typed arrays ({"dtype", "bdata"[, "shape"]}) decoded to lists: what the browser draws."""
    import base64
    import json

    def decode(obj: object) -> object:
        if isinstance(obj, dict):
            if set(obj) >= {"dtype", "bdata"}:
                arr = np.frombuffer(base64.b64decode(obj["bdata"]), dtype=obj["dtype"])
                if "shape" in obj:
                    arr = arr.reshape([int(n) for n in str(obj["shape"]).split(",")])
                return arr.tolist()
            return {k: decode(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [decode(v) for v in obj]
        return obj

    return decode(json.loads(spec))  # type: ignore[return-value]
