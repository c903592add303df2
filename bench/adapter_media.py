"""The caller-thread cost of the torch adapter's media calls against torch's own
SummaryWriter for the same calls (issue 20: the adapters must not slow a training
loop that logs media). Prints one JSON object.

    python bench/adapter_media.py [--rounds 5]

Each round times both writers on the same inputs, interleaved (this machine drifts by
+-30% between identical runs); ratios are ours / torch's, best of each round.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.media import _best  # noqa: E402 (best of n, after one warm-up call)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import torch
    from torch.utils.tensorboard import SummaryWriter as TorchWriter
    from trackboard.loggers.torch import SummaryWriter

    gen = torch.Generator().manual_seed(0)
    weights = torch.randn(1_000_000, generator=gen)
    image = torch.rand(3, 256, 256, generator=gen)
    batch = torch.rand(16, 3, 64, 64, generator=gen)
    calls = {
        "add_histogram_1M": lambda w, s: w.add_histogram("w", weights, s),
        "add_image_256": lambda w, s: w.add_image("img", image, s),
        "add_images_16x64": lambda w, s: w.add_images("batch", batch, s),
    }
    out: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = SummaryWriter(Path(tmp) / "ours", project="bench",
                             store=f"sqlite:///{tmp}/bench.db")
        theirs = TorchWriter(str(Path(tmp) / "theirs"))
        step = iter(range(10**9))
        for name, call in calls.items():
            mine, torch_ms = [], []
            for _ in range(args.rounds):
                mine.append(_best(lambda: call(ours, next(step)), 5))
                torch_ms.append(_best(lambda: call(theirs, next(step)), 3))
            out[name] = {"ours_ms": round(min(mine) * 1e3, 3),
                         "torch_ms": round(min(torch_ms) * 1e3, 3),
                         "ratio_best": round(min(mine) / min(torch_ms), 4),
                         "ratio_per_round": [round(a / b, 4) for a, b in zip(mine, torch_ms)]}
        ours.close()
        theirs.close()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
