"""Planting faults: the machinery behind `python -m tests.support.faults` (the list of
faults, and what each one breaks, is in faults.py).

A scratch copy of the working tree (tracked and untracked files that git does not
ignore), made importable as `trackboard.*` in pytest and every process it starts; each
fault planted there alone, its bytecode dropped, the suite run with -x and a time
limit, the file restored. The developer's tree is never touched.
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


def pytest_command(marker: str, targets: list[str], per_test_timeout: int) -> list[str]:
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
    except BaseException:  # interrupted: take the suite and its servers along
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
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
    """Plant `fault`, run its own tests, then (if they pass) the whole suite; restore."""
    start = time.monotonic()
    problem = snippet_problem(tree, fault)
    if problem is not None:
        return Outcome(fault, "STALE", problem, 0.0)
    path = tree / fault.file
    original = path.read_text(encoding="utf-8")
    try:
        path.write_text(original.replace(fault.old, fault.new), encoding="utf-8")
        _drop_bytecode(path)
        # Its own tests first, on their own: pytest runs a folder's files in its own
        # order whatever the order of the arguments, and they are the quick answer.
        rounds = [list(fault.tests)] if fault.tests else []
        if not hinted_only:
            rounds.append(["tests"])
        verdict = Outcome(fault, "SURVIVED", "no test was selected", 0.0)
        for i, targets in enumerate(rounds):
            code, output = run_suite(tree, env, pytest_command(marker, targets, per_test_timeout),
                                     timeout)
            own = bool(fault.tests) and i == 0
            if code == 4:  # pytest's usage error: a test named in `tests` does not exist
                verdict = Outcome(fault, "STALE", f"pytest usage error: {first_failure(output)}",
                                  0.0)
                break
            if code is None:
                verdict = Outcome(fault, "CAUGHT", f"the suite hung (> {timeout:.0f} s)", 0.0)
                break
            if code not in (0, 5):
                where = "" if own or not fault.tests else " (not by its own tests)"
                verdict = Outcome(fault, "CAUGHT", first_failure(output) + where, 0.0)
                break
            if code == 0:
                verdict = Outcome(fault, "SURVIVED", "the suite passed" if not own else
                                  "its own tests passed", 0.0)
            # code 5: nothing selected (its tests are slow, or gone): the suite decides
    finally:
        path.write_text(original, encoding="utf-8")
        _drop_bytecode(path)
    verdict.seconds = time.monotonic() - start
    return verdict


def describe(faults: list[Fault]) -> str:
    lines = []
    for f in faults:
        lines.append(f"{f.name}  ({f.file})\n    breaks: {f.breaks}\n    promise: {f.promise}"
                     f"\n    tests: {', '.join(f.tests) or '-'}")
    return "\n".join(lines)


def main(faults: list[Fault], argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.faults",
                                     description="Plant each fault of tests/support/faults.py in a scratch copy "
                                     "and report which ones the suite does not catch.")
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

    names = [f.name for f in faults]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        print(f"faults: duplicate names {duplicates}", file=sys.stderr)
        return 2
    chosen = faults
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            print(f"faults: unknown fault(s) {unknown}; --list shows them", file=sys.stderr)
            return 2
        chosen = [f for f in faults if f.name in args.only]
    if args.list:
        print(describe(chosen))
        return 0
    if args.check:
        stale = [f"{f.name}: {why}" for f in chosen if (why := snippet_problem(ROOT, f))]
        print("\n".join(stale) or f"faults: all {len(chosen)} snippets match")
        return 1 if stale else 0

    # Killed (timeout, Ctrl-C from a shell script): leave as an exception does, so the
    # scratch copy is removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="trackboard-faults-") as tmp:
        tree, env = make_scratch(ROOT, Path(tmp))
        check_imports(tree, env)
        print(f"faults: {len(chosen)} fault(s) in {describe_tree(ROOT)}, scratch copy {tree}, "
              f"suite -m {args.marker!r}" + (" (hinted tests only)" if args.hinted_only else ""),
              flush=True)
        if not args.no_baseline:
            start = time.monotonic()
            code, output = run_suite(tree, env, pytest_command(
                args.marker, ["tests"], args.test_timeout), args.timeout)
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
