"""Faults planted one at a time: does the core suite catch each guarantee we make?

    python -m tests.support.faults                  # every fault, against the core suite
    python -m tests.support.faults --only mask-lazy filter-not-null
    python -m tests.support.faults --list           # the faults, what each one breaks
    python -m tests.support.faults --hinted-only    # quick: only each fault's own tests

Each fault is one small textual mutation of one source file: the exact `old` snippet
is replaced by `new`, in a scratch copy of the working tree (tracked and untracked
files that git does not ignore; the developer's tree is never touched). The core
suite (`-m "not postgres and not browser and not slow"`, the one developers run on
every change) then runs with -x, the fault's own tests first. A fault the suite
still passes SURVIVES: some guarantee has no fast test. A fault whose `old` snippet
is not in the file exactly once is STALE: the code moved on, so the fault must be
updated (never skipped silently). The exit status is 0 only when every fault is
caught; 1 when any survives or is stale; 2 when the scratch copy or the unmodified
suite (run first, as the baseline) fails.

Adding a fault: one entry in FAULTS below, small enough to read at a glance. `tests`
names the test(s) meant to catch it (run first, so the report names them); they must
be in the core suite, since a fault caught only by slow tests counts as surviving.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = "not postgres and not browser and not slow"
PACKAGES = ("storage", "loggers", "dashboard")  # installed as trackboard.<name>


@dataclass(frozen=True)
class Fault:
    name: str
    file: str  # relative to the repository root
    old: str  # must occur exactly once in `file`
    new: str
    breaks: str  # the guarantee this fault breaks
    promise: str  # where we make it (README section, or docs/*.md)
    tests: tuple[str, ...] = ()  # the core tests meant to catch it, run first


FAULTS: list[Fault] = [
    # -- named by issue 18 (item 13) ----------------------------------------------------
    Fault("staging-inflight", "storage/write/staging.py",
          "todo = [c for c in self._inflight if c.segment is None and (over or c.since <= limit)]",
          "todo: list[Chunk] = []",
          "the batch in flight (a store that hangs mid-transaction) is spooled within a second",
          "README: a crash loses at most the last second",
          ("tests/test_crash.py::test_a_batch_the_store_holds_up_is_spooled_within_a_second",)),
    Fault("filter-not-null", "storage/read/filter_sql.py",
          "return not_(func.coalesce(self.build(node.item), false()))",
          "return not_(self.build(node.item))",
          "`not x` keeps runs where x is unknown (NULL)",
          "docs/dashboard.md: the filter language",
          ("tests/test_filters.py::test_filters_select_the_right_runs_on_both_backends",)),
    Fault("mask-lazy", "storage/db/urls.py",
          r"""(?P<password>\S*)@(?=" + _HOST + ")")""",
          r"""(?P<password>\S*?)@(?=" + _HOST + ")")""",
          "a password with '@' then '/' is masked whole, not cut at its first '@'",
          "README: errors with passwords masked",
          ("tests/test_security_store.py::test_passwords_with_reserved_characters_are_parsed_and_masked",)),
    Fault("labels-not-unique", "dashboard/labels.py",
          "        out[row[\"id\"]] = SEP.join(parts)\n    return unique(out)",
          "        out[row[\"id\"]] = SEP.join(parts)\n    return out",
          "two runs never share a default label on a chart",
          "README: Compare overlays the selected runs",
          ("tests/test_compare_labels.py::test_default_labels_tell_twins_apart",)),
    Fault("resume-counts-system", "storage/read/run_state.py",
          "\"SELECT MAX(CASE WHEN k.name NOT LIKE 'system/%' THEN s.last_step END), \"",
          "\"SELECT MAX(s.last_step), \"",
          "a resumed run's step continues after its last training step, system/* aside",
          "docs/logging.md: continuing a run",
          ("tests/test_run_resume.py::test_resume_step_ignores_system_samples",)),

    # -- logging: the Run API and the writer ------------------------------------------
    Fault("log-waits-for-store", "loggers/run.py",
          "            self._writer.submit((POINTS, self._uid, step, wall, keys, array(\"d\", values)),\n"
          "                                len(values))",
          "            self._writer.submit((POINTS, self._uid, step, wall, keys, array(\"d\", values)),\n"
          "                                len(values))\n            self._writer.flush()",
          "log() does no I/O and never waits for the store",
          "README: logging does no I/O in the training loop",
          ("tests/test_writer_outage.py::test_log_returns_at_once_while_the_store_is_locked",)),
    Fault("spool-always", "storage/write/writer.py",
          "SPILL_AGE = 0.5\n", "SPILL_AGE = 0.0\n",
          "a writer that keeps up never writes the spool",
          "docs/logging.md: while the store keeps up, nothing is written to the spool",
          ("tests/test_crash.py::test_a_store_that_keeps_up_costs_no_spool_writes",)),
    Fault("outage-drops-batch", "storage/write/writer.py",
          "                self._staging.to_disk(chunks)\n",
          "                pass\n",
          "points logged while the store is away wait in the spool and are delivered later",
          "README: while the store is away, points wait in a local spool file",
          ("tests/test_writer_outage.py::test_points_logged_during_an_outage_arrive_after_it",)),
    Fault("backlog-unbounded", "storage/write/staging.py",
          "over = self.staged_points > self.max_pending_points",
          "over = False",
          "the in-memory backlog stops growing at max_pending_points; the rest waits on disk",
          "docs/logging.md: the backlog stops growing at a million points",
          ("tests/test_writer_outage.py::test_a_backlog_past_its_limit_leaves_memory_for_the_spool",)),
    Fault("auto-step-stuck", "loggers/run.py",
          "        self._step = step + 1\n", "        self._step = step\n",
          "log() without a step counts up from the last one",
          "README: step optional: counts up from the last",
          ("tests/test_run_api.py::test_ids_are_unique_and_auto_steps_count_up",)),
    Fault("flatten-separator", "loggers/param_values.py",
          "name = f\"{prefix}{sep}{k}\" if prefix else k",
          "name = f\"{prefix}/{k}\" if prefix else k",
          "nested config dicts are flattened to a.b keys",
          "README: nested dicts are flattened to \"a.b\"",
          ("tests/test_run_api.py::test_run_records_everything_and_finishes",)),
    Fault("bool-metric", "loggers/values.py",
          "    if isinstance(value, (bool, np.bool_)):\n        raise ValueError(f\"metric {key!r} is a bool",
          "    if False:\n        raise ValueError(f\"metric {key!r} is a bool",
          "a bool is refused at the call, not stored as 1.0",
          "docs/logging.md: bad input raises ValueError at the call",
          ("tests/test_values.py::test_bad_metrics_raise_a_helpful_value_error",)),
    Fault("context-failure-finished", "loggers/run.py",
          "    return \"killed\" if issubclass(exc_type, KeyboardInterrupt) else \"failed\"",
          "    return \"killed\" if issubclass(exc_type, KeyboardInterrupt) else \"finished\"",
          "an exception inside `with Run(...)` marks the run failed",
          "README: an exception inside: \"failed\"",
          ("tests/test_run_api.py::test_context_manager_marks_failures",)),
    Fault("finish-does-not-wait", "loggers/run.py",
          "        self._writer.flush(timeout)\n        _active.discard(self)",
          "        _active.discard(self)",
          "finish() waits until the run's data is stored",
          "README: run.finish(): status \"finished\"; waits until stored",
          ("tests/test_run_api.py::test_finish_waits_until_everything_is_stored",)),
    Fault("system-samples-move-steps", "loggers/system.py",
          "self.run.log_aside(self.sample_values(), step=self.samples)",
          "self.run.log(self.sample_values())",
          "system metrics go under system/... on a step sequence of their own",
          "README: every run also samples CPU, memory and GPU metrics under system/...",
          ("tests/test_loggers_system.py::test_samples_arrive_under_system_keys_without_moving_training_steps",)),
    Fault("no-heartbeat", "storage/write/link.py",
          "        if (now - self._last_beat < self.heartbeat_interval or not live\n",
          "        if (True or not live\n",
          "a quiet run keeps its heartbeat, so only a dead one shows as crashed",
          "docs/logging.md: crashed once its heartbeat is a minute old",
          ("tests/test_writer_runs.py::test_a_registered_run_gets_heartbeats_until_it_ends",)),
    Fault("trouble-said-every-time", "storage/write/link.py",
          "        if kind in self._reported:\n            return\n", "",
          "trouble is reported once per episode, not once per point, retry or spill",
          "docs/logging.md: trouble is reported once per episode",
          ("tests/test_writer_outage.py::test_a_backlog_past_its_limit_leaves_memory_for_the_spool",)),
    Fault("reader-error-unmasked", "storage/db/driver_errors.py",
          "    return mask_text(lines[0]) if lines else type(inner).__name__",
          "    return lines[0] if lines else type(inner).__name__",
          "a driver's error that holds the password is masked in Store errors and the CLI",
          "README: errors with passwords masked",
          ("tests/test_security_store.py::test_a_driver_error_holding_the_password_is_masked_everywhere_it_is_shown",)),
    Fault("driver-error-unmasked", "storage/write/delivery.py",
          "    return mask_text(f\"{type(exc).__name__}: {exc}\").splitlines()[0][:300]",
          "    return f\"{type(exc).__name__}: {exc}\".splitlines()[0][:300]",
          "a driver's error that holds the password is masked in writer.last_error",
          "docs/logging.md: passwords are masked in everything trackboard prints or logs",
          ("tests/test_security_store.py::test_writer_reports_outages_without_the_password",)),

    # -- the store: ingest, replay, summaries ----------------------------------------
    Fault("later-call-loses", "storage/write/ingest.py",
          "\" WHERE excluded.wall_time >= points.wall_time\"", "\"\"",
          "a late delivery from the spool never overwrites newer data",
          "docs/logging.md: the later call wins",
          ("tests/test_rollups.py::test_replaying_older_data_does_not_overwrite_newer",)),
    Fault("append-double-counts", "storage/write/rollup_writer.py",
          "            if old is not None:\n                cnt += int(old[\"count\"])",
          "            if old is not None:\n                cnt += int(old[\"count\"]) + 1",
          "summaries count each point once when a later batch appends to a series",
          "docs/logging.md: summaries and roll-ups stay exact",
          ("tests/test_rollups.py::test_rollups_exact_across_batches",)),
    Fault("purge-takes-system", "storage/write/ingest.py",
          "\"WHERE s.run_id = :r AND s.last_step >= :s AND k.name NOT LIKE 'system/%' \"",
          "\"WHERE s.run_id = :r AND s.last_step >= :s \"",
          "purge() leaves system/* keys alone",
          "docs/logging.md: continuing a run (purge)",
          ("tests/test_run_resume.py::test_purge_drops_earlier_points_past_the_step",)),
    Fault("purge-takes-later", "storage/write/ingest.py",
          "\"AND wall_time < :w\"), {**args, \"w\": before}).rowcount",
          "\"AND wall_time < :w + 1e9\"), {**args, \"w\": before}).rowcount",
          "purge() keeps the points logged after the call",
          "docs/logging.md: continuing a run (purge)",
          ("tests/test_run_resume.py::test_spool_delivered_late_purge_never_deletes_newer_points",)),
    Fault("poison-takes-batch", "storage/write/delivery.py",
          "        half = len(part) // 2\n        return [part[:half], part[half:]]",
          "        self._reject(part, one_line(error))\n        return []",
          "a record the store refuses costs only itself",
          "docs/logging.md: a refused record costs only itself",
          ("tests/test_poison_isolation.py::test_a_key_the_store_refuses_costs_only_its_record",)),
    Fault("sync-skips-tail", "storage/write/delivery.py",
          "            if pending:\n                result.points += self.deliver(pending, runs)",
          "            if False:\n                result.points += self.deliver(pending, runs)",
          "`trackboard sync` delivers everything a spool file holds",
          "README: trackboard sync delivers spool files left behind",
          ("tests/test_crash.py::test_a_replay_of_points_already_stored_counts_nothing_twice",)),
    Fault("spool-crc-ignored", "storage/write/spool/reader.py",
          "if zlib.crc32(payload, zlib.crc32(head[:4])) != crc:",
          "if False:",
          "a spool frame that fails its checksum is damage, never data",
          "docs/logging.md: spool files are data: frames with a CRC32 each",
          ("tests/test_spool_format.py::test_a_bad_file_or_record_never_blocks_the_others",)),

    # -- reading back ------------------------------------------------------------------
    Fault("nan-read-as-zero", "storage/read/history.py",
          "step, wall, value = flat[:, 0].astype(np.int64), flat[:, 1], flat[:, 2]",
          "step, wall, value = flat[:, 0].astype(np.int64), flat[:, 1], np.nan_to_num(flat[:, 2])",
          "NaN, +inf and -inf round-trip exactly",
          "docs/logging.md: NaN, +inf and -inf round-trip exactly",
          ("tests/test_smoke_backends.py::test_log_and_read_back_on_each_backend",)),
    Fault("downsample-drops-max", "storage/db/rollup.py",
          "    distinct = b.min_step != b.max_step\n",
          "    distinct = np.zeros(len(b), bool)\n",
          "history(max_points=N) keeps each bucket's minimum AND maximum",
          "README: max_points keeps each bucket's minimum and maximum",
          ("tests/test_history.py::test_downsampled_history_keeps_spikes_and_bounds",)),
    Fault("id-prefix-first-match", "storage/read/store_base.py",
          "\"SELECT uid FROM runs WHERE uid LIKE :p LIMIT 2\"",
          "\"SELECT uid FROM runs WHERE uid LIKE :p LIMIT 1\"",
          "an id prefix must be unique: an ambiguous one is refused",
          "README: a unique id prefix will do",
          ("tests/test_cli.py::test_an_ambiguous_id_prefix_is_refused",)),
    Fault("runs-oldest-first", "storage/read/run_queries.py",
          "stmt = stmt.order_by(r.c.created_at.desc(), r.c.id.desc())",
          "stmt = stmt.order_by(r.c.created_at.asc(), r.c.id.asc())",
          "Store.runs() lists the newest run first",
          "README: DataFrame, one row per run, newest first",
          ("tests/test_dashboard_store_runs.py::test_runs_limits_columns_and_filters",)),
    Fault("crashed-never-shown", "storage/read/run_queries.py",
          "base.loc[crashed, \"status\"] = \"crashed\"", "pass",
          "a running run whose heartbeat is a minute old shows as crashed",
          "docs/logging.md: shows as crashed once its heartbeat is a minute old",
          ("tests/test_filters.py::test_a_silent_run_shows_as_crashed",)),
    Fault("filter-text-inlined", "storage/read/filter_sql.py",
          "    b = bindparam(None, value)\n    if op in (\"=\", \"!=\"):",
          "    b = literal_column(\"'\" + value.replace(\"'\", \"''\") + \"'\")\n"
          "    if op in (\"=\", \"!=\"):",
          "user text in a filter reaches SQL only as bound parameters",
          "README: a small filter language (STYLE.md: always bound parameters)",
          ("tests/test_filters.py::test_user_text_only_reaches_sql_as_bound_parameters",)),
    Fault("store-env-ignored", "storage/db/urls.py",
          "store = os.environ.get(ENV_VAR) or DEFAULT_URL",
          "store = DEFAULT_URL",
          "the store comes from store=, else $TRACKBOARD_STORE, else ./trackboard.db",
          "README: the store is store=, else $TRACKBOARD_STORE",
          ("tests/test_run_api.py::test_the_store_comes_from_the_environment",)),
    Fault("dashboard-read-only-ignored", "dashboard/data.py",
          "return Source(url, os.environ.get(READ_ONLY_ENV, \"\") in (\"1\", \"true\", \"yes\"))",
          "return Source(url, False)",
          "`trackboard ui --read-only` opens the store read-only: no write reaches it",
          "README: trackboard ui --read-only",
          ("tests/test_security_store.py::test_a_read_only_dashboard_opens_its_store_read_only",)),
    Fault("outdated-schema-taken", "storage/db/migrate.py",
          "    if rev in known:\n        raise SchemaOutdatedError(",
          "    if False:\n        raise SchemaOutdatedError(",
          "a database of an older trackboard is refused with the command that upgrades it",
          "README: trackboard db upgrade / db current",
          ("tests/test_migrations.py::test_outdated_database_is_refused_then_upgraded",)),
    Fault("foreign-tables-taken", "storage/db/migrate.py",
          "    if others:\n        shown = ", "    if False:\n        shown = ",
          "a database holding other applications' tables is refused, never mixed into",
          "docs/logging.md: trackboard keeps its data in a database of its own",
          ("tests/test_migrations.py::test_tables_are_added_beside_foreign_ones_only_when_told",)),
    Fault("tensorboard-export-float32", "storage/interchange/tensorboard/scalar_events.py",
          "            arr[f\"d{i}\"] = vals[rows, i]", "            arr[f\"d{i}\"] = f32[rows, i]",
          "TensorBoard export carries each value's exact float64 (the importer reads it back)",
          "README: any run exports to TensorBoard, and TensorBoard logdirs import",
          ("tests/test_tensorboard_export.py::test_exported_scalars_carry_every_float64",)),
    Fault("csv-export-rounds", "storage/interchange/files.py",
          "frame.to_csv(index=False, float_format=None)",
          "frame.to_csv(index=False, float_format=\"%.6g\")",
          "CSV and Parquet exports hold every point exactly",
          "README: Export sends runs to TensorBoard, Visdom, CSV or Parquet",
          ("tests/test_export_files.py::test_csv_and_parquet_round_trip",)),

    # -- adapters --------------------------------------------------------------------
    Fault("missing-extra-unnamed", "storage/extras.py",
          "f\"pip install 'trackboard[{extra}]'\")", "\"pip install trackboard\")",
          "a missing framework or optional package is named with the extra that installs it",
          "README: each adapter names the extra to install if it is missing",
          ("tests/test_doctests.py::test_docstring_examples[trackboard.storage.extras]",)),
    Fault("hook-raises", "loggers/guard.py",
          "            hook_trouble(self, method.__name__, exc)\n            return None\n",
          "            raise\n",
          "trouble inside a framework hook is a warning, never an exception in fit()",
          "README: trouble inside a framework hook is a warning",
          ("tests/test_doctests.py::test_docstring_examples[trackboard.loggers.guard]",)),
    Fault("framework-not-recorded", "loggers/distributed.py",
          "    return Run(framework=framework, **kwargs)", "    return Run(**kwargs)",
          "every adapter records the run's framework",
          "README: records the run's framework",
          ("tests/test_run_api.py::test_only_rank_zero_opens_a_run",)),
    Fault("every-rank-logs", "loggers/distributed.py",
          "    if rank_zero_only and process_rank() != 0:",
          "    if rank_zero_only and process_rank() < 0:",
          "adapters log only on rank 0",
          "README: logs only on rank 0",
          ("tests/test_run_api.py::test_only_rank_zero_opens_a_run",)),

    # -- dashboard and command line ------------------------------------------------------
    Fault("any-password", "dashboard/auth.py",
          "if password_ok(given or \"\", expected):", "if True:",
          "every page asks the shared password first, and only it opens the page",
          "README: a shared password (TRACKBOARD_PASSWORD)",
          ("tests/test_dashboard_guard.py",)),
    Fault("export-unfenced", "dashboard/export_policy.py",
          "return cls(fenced=read_only or not is_loopback(address),",
          "return cls(fenced=read_only,",
          "a dashboard listening beyond loopback writes only under its export directory",
          "README: where the Export page may write on the server",
          ("tests/test_dashboard_export_policy.py::test_fenced_when_read_only_or_beyond_loopback",)),
    Fault("cli-traceback", "dashboard/cli_store.py",
          "            raise click.ClickException(one_line(exc)) from None",
          "            raise",
          "every command reports an error as one line with exit status 1",
          "README: an error as one line with exit status 1",
          ("tests/test_cli.py::test_show_by_prefix_and_friendly_errors",)),
    Fault("colours-follow-order", "dashboard/colors.py",
          "unique = sorted(set(keys), key=lambda k: (_digest(k), k))",
          "unique = list(dict.fromkeys(keys))",
          "a run keeps its colour whatever else is selected, in whatever order",
          "README: runs in the same colour on every chart",
          ("tests/test_compare_labels.py::test_colours_come_from_the_run_id_and_stay_distinct",)),
    Fault("url-state-ignored", "dashboard/state.py",
          "    raw = st.query_params.get(param)\n    st.session_state[key] =",
          "    raw = None\n    st.session_state[key] =",
          "every view is a link: the URL holds it",
          "README: every view is a link",
          ("tests/test_compare_page.py::test_charts_per_row_from_the_url_and_same_height",)),
    Fault("smoothing-biased", "dashboard/smoothing.py",
          "ewm(alpha=1.0 - weight, adjust=True)", "ewm(alpha=1.0 - weight, adjust=False)",
          "Compare smooths as TensorBoard does (debiased)",
          "README: TensorBoard's smoothing",
          ("tests/test_dashboard_pure.py::test_ema_matches_tensorboards_debiased_formula",)),
]


# -- the scratch tree ---------------------------------------------------------------------

def _tree_files(root: Path) -> list[str]:
    """Tracked and untracked, not ignored files of the working tree (as it is now)."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=root, capture_output=True, check=True).stdout
    return sorted({p for p in out.decode().split("\0") if p and (root / p).is_file()})


def make_scratch(root: Path, where: Path) -> tuple[Path, dict[str, str]]:
    """Copy the tree to `where`/tree; returns it and the environment that makes
    `import trackboard.*` (in pytest and in every subprocess it starts) load the copy."""
    tree = where / "tree"
    for rel in _tree_files(root):
        dest = tree / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, dest)
    # The venv's editable install maps trackboard.* to the developer's tree through a
    # meta path finder placed after the regular one, so a `trackboard` folder early on
    # PYTHONPATH wins: it holds links to the copy's three packages.
    shim = where / "import" / "trackboard"
    shim.mkdir(parents=True)
    # A regular package, so that no installed `trackboard` elsewhere on the path can
    # take its place (check_imports verifies it).
    (shim / "__init__.py").write_text("")
    for pkg in PACKAGES:
        (shim / pkg).symlink_to(tree / pkg, target_is_directory=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(where / "import"), str(tree), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("TRACKBOARD_STORE", None)
    return tree, env


def describe_tree(root: Path) -> str:
    """The commit the tree is at, and whether it has changes beside it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              check=False).stdout.strip()
    changed = git("status", "--porcelain", "--untracked-files=normal")
    return f"{git('rev-parse', '--short', 'HEAD') or '?'}{' + changes' if changed else ''}"


def check_imports(tree: Path, env: dict[str, str]) -> None:
    """Refuse to go on unless trackboard.* really comes from the scratch copy."""
    code = ("import trackboard.storage, trackboard.loggers, trackboard.dashboard, os; "
            "print('\\n'.join(os.path.realpath(m.__file__) for m in "
            "(trackboard.storage, trackboard.loggers, trackboard.dashboard)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    real = str(tree.resolve())
    wrong = [p for p in out if not p.startswith(real + os.sep)]
    if len(out) != len(PACKAGES) or wrong:
        raise SystemExit(f"faults: trackboard is not imported from the scratch copy: {out}")


def _drop_bytecode(path: Path) -> None:
    # A mutation of the same size within the same second would otherwise reuse the
    # compiled original (pyc files are keyed by mtime in seconds and size).
    for pyc in (path.parent / "__pycache__").glob(f"{path.stem}.*.pyc"):
        pyc.unlink()


# -- running ------------------------------------------------------------------------------

@dataclass
class Outcome:
    fault: Fault
    status: str  # CAUGHT, SURVIVED, STALE
    detail: str
    seconds: float


def pytest_command(marker: str, first: tuple[str, ...], *, hinted_only: bool,
                   per_test_timeout: int) -> list[str]:
    targets = list(first) if hinted_only and first else [*first, "tests"]
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-x",
            "-m", marker, f"--timeout={per_test_timeout}", *targets]


def run_suite(tree: Path, env: dict[str, str], command: list[str],
              timeout: float) -> tuple[int | None, str]:
    """Run pytest in the scratch tree; (exit status, output), status None on a hang. A
    session of its own, so that a hang takes every server the suite started with it."""
    proc = subprocess.Popen(command, cwd=tree, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return None, out
    return proc.returncode, out


_FAILED = re.compile(r"^(FAILED|ERROR) (\S+)", re.MULTILINE)


def first_failure(output: str) -> str:
    m = _FAILED.search(output)
    if m:
        return f"{m.group(1).lower()} {m.group(2)}"
    tail = [line for line in output.strip().splitlines() if line.strip()]
    return tail[-1] if tail else "(no output)"


def snippet_problem(root: Path, fault: Fault) -> str | None:
    """Why `fault` cannot be planted in the tree at `root` (None: it can)."""
    path = root / fault.file
    if not path.is_file():
        return f"{fault.file} does not exist"
    if fault.new == fault.old:
        return "the fault changes nothing (new == old)"
    count = path.read_text(encoding="utf-8").count(fault.old)
    if count != 1:
        return f"snippet {'not found' if count == 0 else f'found {count} times'} in {fault.file}"
    return None


def plant(tree: Path, env: dict[str, str], fault: Fault, *, marker: str, hinted_only: bool,
          timeout: float, per_test_timeout: int) -> Outcome:
    start = time.monotonic()
    problem = snippet_problem(tree, fault)
    if problem is not None:
        return Outcome(fault, "STALE", problem, 0.0)
    path = tree / fault.file
    original = path.read_text(encoding="utf-8")
    try:
        path.write_text(original.replace(fault.old, fault.new), encoding="utf-8")
        _drop_bytecode(path)
        command = pytest_command(marker, fault.tests, hinted_only=hinted_only,
                                 per_test_timeout=per_test_timeout)
        code, output = run_suite(tree, env, command, timeout)
    finally:
        path.write_text(original, encoding="utf-8")
        _drop_bytecode(path)
    took = time.monotonic() - start
    if code is None:
        return Outcome(fault, "CAUGHT", f"the suite hung (> {timeout:.0f} s)", took)
    if code == 0:
        return Outcome(fault, "SURVIVED", "the suite passed", took)
    if code == 5:  # nothing selected: a hinted test that is slow, gone or misnamed
        return Outcome(fault, "SURVIVED", "no test was selected", took)
    if code == 4:  # pytest's usage error: a test named in `tests` does not exist
        return Outcome(fault, "STALE", f"pytest usage error: {first_failure(output)}", took)
    return Outcome(fault, "CAUGHT", first_failure(output), took)


def describe(faults: list[Fault]) -> str:
    lines = []
    for f in faults:
        lines.append(f"{f.name}  ({f.file})\n    breaks: {f.breaks}\n    promise: {f.promise}"
                     f"\n    tests: {', '.join(f.tests) or '-'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.faults",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="plant only these faults")
    parser.add_argument("--list", action="store_true", help="list the faults and exit")
    parser.add_argument("--check", action="store_true",
                        help="only check that every fault's snippet is in its file once")
    parser.add_argument("--hinted-only", action="store_true",
                        help="run only each fault's own tests (quick; not the real check)")
    parser.add_argument("--marker", default=CORE, help=f"pytest -m expression (default: {CORE!r})")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the run of the unmodified suite")
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds one planted fault's suite may take (default 600)")
    parser.add_argument("--test-timeout", type=int, default=120,
                        help="seconds one test may take (pytest-timeout; default 120)")
    args = parser.parse_args(argv)

    names = [f.name for f in FAULTS]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        print(f"faults: duplicate names {duplicates}", file=sys.stderr)
        return 2
    chosen = FAULTS
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            print(f"faults: unknown fault(s) {unknown}; --list shows them", file=sys.stderr)
            return 2
        chosen = [f for f in FAULTS if f.name in args.only]
    if args.list:
        print(describe(chosen))
        return 0
    if args.check:
        stale = [f"{f.name}: {why}" for f in chosen if (why := snippet_problem(ROOT, f))]
        print("\n".join(stale) or f"faults: all {len(chosen)} snippets match")
        return 1 if stale else 0

    with tempfile.TemporaryDirectory(prefix="trackboard-faults-") as tmp:
        tree, env = make_scratch(ROOT, Path(tmp))
        check_imports(tree, env)
        print(f"faults: {len(chosen)} fault(s) in {describe_tree(ROOT)}, scratch copy {tree}, "
              f"suite -m {args.marker!r}" + (" (hinted tests only)" if args.hinted_only else ""),
              flush=True)
        if not args.no_baseline:
            start = time.monotonic()
            code, output = run_suite(tree, env, pytest_command(
                args.marker, (), hinted_only=False, per_test_timeout=args.test_timeout),
                args.timeout)
            took = time.monotonic() - start
            if code != 0:
                print(output[-6000:])
                print(f"faults: the unmodified suite does not pass ({first_failure(output)}); "
                      "fix that first", file=sys.stderr)
                return 2
            print(f"baseline: the unmodified suite passes ({took:.0f} s)", flush=True)
        outcomes = []
        for fault in chosen:
            outcome = plant(tree, env, fault, marker=args.marker, hinted_only=args.hinted_only,
                            timeout=args.timeout, per_test_timeout=args.test_timeout)
            outcomes.append(outcome)
            print(f"{outcome.status:<8} {fault.name:<26} {outcome.seconds:5.0f} s  "
                  f"{outcome.detail}", flush=True)

    bad = [o for o in outcomes if o.status != "CAUGHT"]
    counts = {s: sum(o.status == s for o in outcomes) for s in ("CAUGHT", "SURVIVED", "STALE")}
    print(f"\n{counts['CAUGHT']} caught, {counts['SURVIVED']} survived, "
          f"{counts['STALE']} stale, of {len(outcomes)}")
    for o in bad:
        print(f"  {o.status}: {o.fault.name} ({o.fault.file}): {o.detail}\n"
              f"      breaks: {o.fault.breaks}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
