"""What the demo logs besides scalars, the same in every framework, so the
Distributions, Histograms and Images views have data on first start.

- Every epoch, a histogram of each layer's weights under the names Keras'
  TensorBoard callback gives them (`weights/hidden/kernel/histogram`, ...): the
  Keras model is named so, and the other frameworks log theirs under the same
  names, so one key compares the four frameworks side by side.
- Every epoch, a strip of two risk maps (`risk_maps`): the model's claim probability
  over a grid of two features, the others at their mean (blue low, white 50%, red
  high), as uint8 pixels, so every framework stores exactly what it drew.

    >>> grid = risk_grids(8)
    >>> grid.shape
    (2048, 8)
    >>> [im.shape for im in risk_pixels(np.linspace(0, 1, 2048))]
    [(64, 64, 3), (64, 64, 3)]
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: The layers of the demo MLP as Keras names them (model "weights", layers "hidden"
#: and "output"; Flax's modules have the same names), and torch's parameter names.
WEIGHT_KEYS = {layer: {kind: f"weights/{layer}/{kind}/histogram" for kind in ("kernel", "bias")}
               for layer in ("hidden", "output")}
TORCH_NAMES = {f"{i}.{p}": WEIGHT_KEYS[layer][kind]
               for i, layer in ((0, "hidden"), (2, "output"))
               for p, kind in (("weight", "kernel"), ("bias", "bias"))}

RISK_MAPS = "risk_maps"
#: (x feature, y feature) of each map, indexes into demo.FEATURES.
MAP_AXES = ((0, 2), (3, 5))  # driver age x annual mileage, prior claims x credit score
MAP_CAPTIONS = ("claim probability: driver age (x) by annual mileage (y)",
                "claim probability: prior claims (x) by credit score (y)")
GRID = 32  # points per axis, standardised values from -2 to 2
SCALE = 2  # pixels per point

_BLUE, _WHITE, _RED = (np.array(c, np.float32) for c in
                       ((59, 76, 192), (247, 247, 247), (180, 4, 38)))


def risk_grids(features: int) -> np.ndarray:
    """The model inputs of every map, stacked: GRID x GRID rows per map (y from high to
    low, then x from low to high), float32."""
    axis = np.linspace(-2.0, 2.0, GRID, dtype=np.float32)
    xs, ys = np.meshgrid(axis, axis[::-1])
    grids = []
    for fx, fy in MAP_AXES:
        g = np.zeros((GRID * GRID, features), np.float32)
        g[:, fx], g[:, fy] = xs.ravel(), ys.ravel()
        grids.append(g)
    return np.concatenate(grids)


def risk_pixels(probability: np.ndarray) -> list[np.ndarray]:
    """The maps (HWC uint8, GRID * SCALE square) of the probabilities predicted for
    `risk_grids` rows."""
    p = np.clip(np.asarray(probability, np.float32).reshape(len(MAP_AXES), GRID, GRID, 1),
                0.0, 1.0)
    low = _BLUE + (_WHITE - _BLUE) * np.minimum(p * 2, 1)
    high = _WHITE + (_RED - _WHITE) * np.maximum(p * 2 - 1, 0)
    rgb = np.where(p < 0.5, low, high).round().astype(np.uint8)
    return [np.kron(m, np.ones((SCALE, SCALE, 1), np.uint8)) for m in rgb]


def mlp_logits(grid: np.ndarray, params: Any) -> np.ndarray:
    """The demo MLP's logits from its Flax params, in NumPy: the maps cost JAX no
    compilation for a new input shape (a second or more on two cores)."""
    w = {layer: {k: np.asarray(v) for k, v in p.items()} for layer, p in params.items()}
    hidden = np.maximum(grid @ w["hidden"]["kernel"] + w["hidden"]["bias"], 0)
    return (hidden @ w["output"]["kernel"] + w["output"]["bias"]).squeeze(-1)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64)))
