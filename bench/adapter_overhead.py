"""Per-step cost of each framework adapter with per-step logging, against the same
training loop with no logging, on small real models on the CPU. Prints JSON.

    python bench/adapter_overhead.py [--rounds 5] [--steps 200]

Each case alternates runs with and without logging (A/B/A/B...) so that load from
other processes hits both sides alike, and compares medians of per-step time on
three clocks: wall time (what the user waits), process CPU time (every thread of
the process, so the store's writer thread is charged to logging too), and the CPU
time of the thread that calls the training loop (the adapter's own work there).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
from trackboard.loggers import Run  # noqa: E402

STORE = f"sqlite:///{tempfile.mkdtemp(prefix='tb-bench-')}/bench.db"
FEATURES, HIDDEN, BATCH = 32, 256, 256


def data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, FEATURES)).astype("float32")
    return x, (x[:, 0] > 0).astype("float32")


def no_sampler(log: bool) -> Any:
    return Run(project="bench", store=STORE, system_metrics=False) if log else None


def compare(train: Callable[[Any], None], steps: int, rounds: int,
            make_run: Callable[[bool], Any] = no_sampler) -> dict[str, Any]:
    """train(run) trains `steps` steps, logging every step through its adapter into
    `run`, or not at all when run is None. The run is opened before and finished
    after the timed span (a once-per-run cost); the adapter's close()/finalize()
    inside it waits until the store holds every point, so the writer's work per
    point is timed. Alternated with and without logging; medians compared."""
    times: dict[bool, list[tuple[float, float, float]]] = {False: [], True: []}
    for round_ in range(rounds + 1):  # round 0 warms up: compilation, imports, tables
        for log in (False, True):
            run = make_run(log)
            if run is not None:
                run.flush()  # the run's creation is a once-per-run cost, not a step's
            cpu, main, wall = time.process_time(), time.thread_time(), time.perf_counter()
            train(run)
            elapsed = ((time.process_time() - cpu) / steps, (time.thread_time() - main) / steps,
                       (time.perf_counter() - wall) / steps)
            if run is not None:
                run.finish()
            if round_:
                times[log].append(elapsed)
    out: dict[str, Any] = {}
    for index, clock in ((2, "wall"), (0, "process_cpu"), (1, "training_thread_cpu")):
        base = statistics.median(t[index] for t in times[False])
        logged = statistics.median(t[index] for t in times[True])
        out[clock] = {"step_ms": round(base * 1e3, 4), "step_ms_logging": round(logged * 1e3, 4),
                      "overhead_us": round((logged - base) * 1e6, 2),
                      "overhead_percent": round(100 * (logged - base) / base, 2)}
    return out


def torch_case(steps: int) -> Callable[[Any], None]:
    import torch
    from trackboard.loggers.torch import SummaryWriter

    torch.set_num_threads(1)
    x, y = (torch.from_numpy(a) for a in data(BATCH))
    model = torch.nn.Sequential(torch.nn.Linear(FEATURES, HIDDEN), torch.nn.ReLU(),
                                torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.ReLU(),
                                torch.nn.Linear(HIDDEN, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    bce = torch.nn.functional.binary_cross_entropy_with_logits

    def run(log: Any) -> None:
        writer = SummaryWriter(run=log) if log else None
        for step in range(steps):
            loss = bce(model(x).squeeze(-1), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if writer is not None:
                writer.add_scalar("loss", loss.item(), step)
            else:
                loss.item()  # the same host sync the logging loop does
        if writer is not None:
            writer.close()
    return run


def system_case(steps: int) -> Callable[[Any], None]:
    """The torch loop logging through Run in both arms; "logging" here means the
    system sampler is on, every 0.1 s (100x the default rate)."""
    import torch

    x, y = (torch.from_numpy(a) for a in data(BATCH))
    model = torch.nn.Sequential(torch.nn.Linear(FEATURES, HIDDEN), torch.nn.ReLU(),
                                torch.nn.Linear(HIDDEN, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    bce = torch.nn.functional.binary_cross_entropy_with_logits

    def run(run_: Any) -> None:
        for step in range(steps):
            loss = bce(model(x).squeeze(-1), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            run_.log({"loss": loss.item()}, step=step)
        run_.flush()
    return run


def keras_case(steps: int) -> Callable[[Any], None]:
    import keras
    from trackboard.loggers.keras import TrackboardCallback

    x, y = data(BATCH * steps)
    model = keras.Sequential([keras.Input((FEATURES,)),
                              keras.layers.Dense(HIDDEN, activation="relu"),
                              keras.layers.Dense(HIDDEN, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss=keras.losses.BinaryCrossentropy(from_logits=True))

    def run(log: Any) -> None:
        callbacks = [TrackboardCallback(run=log, log_every_n_steps=1)] if log else []
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=callbacks)
        if log:
            log.flush()
    return run


def lightning_case(steps: int) -> Callable[[Any], None]:
    import logging

    import lightning as L
    import torch
    from lightning.pytorch.loggers import Logger
    from torch.utils.data import DataLoader, TensorDataset
    from trackboard.loggers.lightning import TrackboardLogger

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    x, y = (torch.from_numpy(a) for a in data(BATCH * steps))

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(FEATURES, HIDDEN), torch.nn.ReLU(),
                                           torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.ReLU(),
                                           torch.nn.Linear(HIDDEN, 1))

        def training_step(self, batch: Any, i: int) -> Any:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                self.net(batch[0]).squeeze(-1), batch[1])
            self.log("loss", loss)  # the same self.log in both: only the logger differs
            return loss

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    class NoOpLogger(Logger):
        """The baseline: Lightning runs its whole logging path, nothing is kept."""

        name, version = "noop", "0"

        def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
            pass

        def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
            pass

    module = Module()
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH)

    def run(log: Any) -> None:
        trainer = L.Trainer(max_epochs=1, accelerator="cpu", log_every_n_steps=1,
                            logger=TrackboardLogger(run=log) if log else NoOpLogger(), enable_progress_bar=False,
                            enable_model_summary=False, enable_checkpointing=False)
        trainer.fit(module, loader)
        if log:
            log.flush()
    return run


def transformers_case(steps: int) -> Callable[[Any], None]:
    import torch
    from trackboard.loggers.transformers import TrackboardCallback
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        PrinterCallback,
        Trainer,
        TrainingArguments,
    )
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 64, (16 * steps, 16), generator=g)

    class Tokens(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(ids)

        def __getitem__(self, i: int) -> dict[str, Any]:
            return {"input_ids": ids[i], "labels": int(ids[i, 0] > 32)}

    config = BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=32, num_labels=2)
    model = BertForSequenceClassification(config)
    out = tempfile.mkdtemp(prefix="tb-bench-hf-")

    def run(log: Any) -> None:
        args = TrainingArguments(output_dir=out, num_train_epochs=1,
                                 per_device_train_batch_size=16, logging_steps=1,
                                 save_strategy="no", report_to="none", use_cpu=True,
                                 disable_tqdm=True)
        callbacks = [TrackboardCallback(run=log)] if log else []
        trainer = Trainer(model=model, args=args, train_dataset=Tokens(), callbacks=callbacks)
        trainer.remove_callback(PrinterCallback)  # keep stdout for the JSON
        trainer.train()
        if log:
            log.flush()  # the callback leaves a run it was given open
    return run


def jax_case(steps: int) -> Callable[[Any], None]:
    import jax
    import jax.numpy as jnp
    import optax
    from flax import linen as nn
    from trackboard.loggers.jax import MetricWriter

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x: Any) -> Any:
            x = nn.relu(nn.Dense(HIDDEN)(x))
            return nn.Dense(1)(nn.relu(nn.Dense(HIDDEN)(x))).squeeze(-1)

    x, y = (jnp.asarray(a) for a in data(BATCH))
    model, tx = MLP(), optax.sgd(0.01)
    params = model.init(jax.random.PRNGKey(0), x[:1])
    opt_state = tx.init(params)

    @jax.jit
    def step_fn(params: Any, opt_state: Any) -> Any:
        loss, grads = jax.value_and_grad(
            lambda p: optax.sigmoid_binary_cross_entropy(model.apply(p, x), y).mean())(params)
        updates, opt_state = tx.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state, loss

    def run(log: Any) -> None:
        nonlocal params, opt_state
        writer = MetricWriter(run=log) if log else None
        for step in range(steps):
            params, opt_state, loss = step_fn(params, opt_state)
            if writer is not None:
                writer.write_scalars(step, {"loss": loss})
            else:
                jax.device_get(loss)  # the same host sync a logging loop does
        if writer is not None:
            writer.close()
    return run


def call_cost(name: str, calls: int = 5000) -> float | None:
    """Microseconds of the adapter's per-step call alone (no training, writer running):
    the adapter's own share of a step, steadier than a difference of two noisy loops."""
    run = Run(project="bench", store=STORE, system_metrics=False)
    if name == "torch":
        from trackboard.loggers.torch import SummaryWriter

        writer = SummaryWriter(run=run)
        call: Callable[[int], Any] = lambda i: writer.add_scalar("loss", 0.5, i)  # noqa: E731
    elif name == "keras":
        from trackboard.loggers.keras import TrackboardCallback

        callback = TrackboardCallback(run=run, log_every_n_steps=1)
        call = lambda i: callback.on_train_batch_end(i, {"loss": 0.5})  # noqa: E731
    elif name == "lightning":
        from trackboard.loggers.lightning import TrackboardLogger

        logger = TrackboardLogger(run=run)

        def call(i: int) -> None:
            logger.log_metrics({"loss": 0.5, "epoch": 0}, step=i)
            logger.save()
    elif name == "transformers":
        from trackboard.loggers.transformers import TrackboardCallback as HFCallback
        from transformers import TrainerControl, TrainerState

        hf, state, control = HFCallback(run=run), TrainerState(), TrainerControl()

        def call(i: int) -> None:
            state.global_step = i
            hf.on_log(None, state, control, logs={"loss": 0.5, "learning_rate": 1e-3,
                                                  "epoch": 0.1})
    elif name == "jax":
        import jax.numpy as jnp
        from trackboard.loggers.jax import MetricWriter

        metric_writer, value = MetricWriter(run=run), jnp.float32(0.5)
        call = lambda i: metric_writer.write_scalars(i, {"loss": value})  # noqa: E731
    else:
        run.finish()
        return None
    start = time.thread_time()
    for i in range(calls):
        call(i)
    cost = (time.thread_time() - start) / calls * 1e6
    run.finish()
    return round(cost, 2)


def sampler_arms(sampling: bool) -> Any:
    return Run(project="bench", store=STORE, system_metrics=0.1 if sampling else False)


CASES = {"torch": torch_case, "keras": keras_case, "lightning": lightning_case,
         "transformers": transformers_case, "jax": jax_case, "system_metrics": system_case}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--only", nargs="*", choices=sorted(CASES), default=sorted(CASES))
    args = parser.parse_args()
    results: dict[str, Any] = {"rounds": args.rounds, "steps": args.steps,
                               "cpu_count": os.cpu_count(), "python": sys.version.split()[0],
                               "load_average": list(os.getloadavg()), "adapters": {}}
    for name in args.only:
        steps = args.steps // 4 if name == "transformers" else args.steps
        make_run = sampler_arms if name == "system_metrics" else no_sampler
        entry = {"steps": steps, **compare(CASES[name](steps), steps, args.rounds, make_run)}
        cost = call_cost(name)
        if cost is not None:
            step_us = entry["wall"]["step_ms"] * 1e3
            entry["adapter_call_us"] = cost
            entry["adapter_call_percent_of_step"] = round(100 * cost / step_us, 3)
        results["adapters"][name] = entry
        print(json.dumps({name: results["adapters"][name]}), file=sys.stderr)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
