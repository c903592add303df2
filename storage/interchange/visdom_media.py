"""Histograms and images to Visdom: one window per key and run, a step to pick.

- a histogram window: the key's histograms of one run as a Plotly bar chart (each
  bucket its own width, as stored) with a slider over the steps, the last one shown;
- an image window: one image per step in Visdom's image history (its slider), the
  step's strip side by side on white, the caption "step S" and the images' captions.

At most `max_steps` steps per window, evenly spread, the first and last included (the
store's `max_steps`). Window ids are derived from kind, key and run, so exporting
again replaces each window. Texts are not sent (Visdom has no per-step text view).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from trackboard.storage.extras import require
from trackboard.storage.interchange.media_files import image_file
from trackboard.storage.interchange.visdom import window_id
from trackboard.storage.media.images import decode_image
from trackboard.storage.read.store import Store

# Pixels between the images of a strip.
STRIP_GAP = 2


def media_window_id(kind: str, key: str, run_id: str) -> str:
    """The Visdom window of one run's histograms or images of `key`.

    >>> media_window_id("histogram", "weights/fc1", "0123456789abcdef")
    'tb-histogram_weights_fc1_0123456789abcdef-114e53'
    """
    return window_id(f"{kind} {key} {run_id}")


def send_histograms(vis: Any, db: Store, run_id: str, label: str, key: str,
                    max_steps: int | None) -> str:
    """One run's histograms of `key` as a bar chart with a step slider; its window id."""
    require("plotly", "visdom")  # visdom's plotlyplot encodes the figure with it
    frame = db.histograms(run_id, keys=[key], max_steps=max_steps)
    win = media_window_id("histogram", key, run_id)
    steps = frame["step"].tolist()
    last = len(steps) - 1
    traces = []
    for i, row in enumerate(frame.itertuples(index=False)):
        edges = np.asarray(row.edges, np.float64)
        traces.append({
            "type": "bar", "name": f"step {row.step}", "visible": i == last,
            "x": ((edges[:-1] + edges[1:]) / 2).tolist(), "width": np.diff(edges).tolist(),
            "y": np.asarray(row.counts, np.float64).tolist(),
        })
    title = f"{key} · {label}"
    layout = {
        "title": {"text": title}, "bargap": 0, "showlegend": False,
        "xaxis": {"title": {"text": key}}, "yaxis": {"title": {"text": "count"}},
        "sliders": [{
            "active": last, "currentvalue": {"prefix": "step "},
            "steps": [{"label": str(step), "method": "restyle",
                       "args": [{"visible": [j == i for j in range(len(steps))]}]}
                      for i, step in enumerate(steps)],
        }],
    }
    vis.close(win)  # a fresh window: exporting again replaces it
    vis.plotlyplot({"data": traces, "layout": layout}, win=win)
    return win


def send_images(vis: Any, db: Store, run_id: str, label: str, key: str,
                max_steps: int | None) -> tuple[str, int]:
    """One run's images of `key`, a step per entry of the window's image history; its
    window id and the number of steps sent."""
    frame = db.images(run_id, keys=[key], max_steps=max_steps)
    win = media_window_id("image", key, run_id)
    vis.close(win)
    sent = 0
    for step, strip in frame.groupby("step", sort=True):
        strip = strip.sort_values("index")
        pixels = [decode_image(image_file(db, h), c) for h, c in zip(strip["hash"],
                                                                 strip["channels"])]
        captions = [c for c in strip["caption"] if isinstance(c, str)]
        caption = f"step {step}" + (": " + " | ".join(captions) if captions else "")
        grid = strip_grid(pixels)
        vis.image(np.transpose(grid, (2, 0, 1)), win=win, opts={
            "title": f"{key} · {label}", "caption": caption, "store_history": True})
        sent += 1
    return win, sent


def strip_grid(images: list[np.ndarray]) -> np.ndarray:
    """A strip of HxWxC uint8 images side by side on white, STRIP_GAP apart, as one RGB
    (RGBA when any image has alpha) image; one image is itself, in RGB(A).

    >>> strip_grid([np.zeros((2, 2, 1), np.uint8), np.zeros((1, 3, 3), np.uint8)]).shape
    (2, 7, 3)
    """
    channels = 4 if any(im.shape[2] == 4 for im in images) else 3
    rgb = [_channels(im, channels) for im in images]
    height = max(im.shape[0] for im in rgb)
    width = sum(im.shape[1] for im in rgb) + STRIP_GAP * (len(rgb) - 1)
    grid = np.full((height, width, channels), 255, np.uint8)
    x = 0
    for im in rgb:
        grid[:im.shape[0], x:x + im.shape[1]] = im
        x += im.shape[1] + STRIP_GAP
    return grid


def _channels(image: np.ndarray, channels: int) -> np.ndarray:
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    if channels == 4 and image.shape[2] == 3:
        image = np.concatenate([image, np.full(image.shape[:2] + (1,), 255, np.uint8)], 2)
    return image
