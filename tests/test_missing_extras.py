"""What the README's first command installs, and what a command or a dashboard button
says when an extra is still missing.

`bash .ci/demo` installs the demo profile of .ci/setup: it must bring every extra that
a path of trackboard asks for (each `require(module, extra)`), so the README's examples
(the Transformers one included) and the Export page's buttons work after it. Where an
extra is missing (a `pip install trackboard[dashboard]` machine), the command and the
button say in one line what to install: the module is hidden from a real `trackboard`
process (a sitecustomize that puts None in sys.modules, as an uninstalled package
fails) and from the Export page under AppTest.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from trackboard.loggers import Run

ROOT = Path(__file__).resolve().parents[1]
TRACKBOARD = Path(sys.executable).with_name("trackboard")
EXPORT_PAGE = str(ROOT / "dashboard" / "views" / "export.py")


def _required_extras() -> set[str]:
    """Every extra named by a `require(module, extra)` call in the package."""
    extras = set()
    for folder in ("storage", "loggers", "dashboard"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "require"
                        and len(node.args) == 2 and isinstance(node.args[1], ast.Constant)):
                    extras.add(node.args[1].value)
    return extras


def _demo_extras() -> set[str]:
    """The extras .ci/setup's demo profile installs, `all` expanded."""
    installs = re.findall(r"-e '\.\[([\w,]+)\]'", (ROOT / ".ci" / "setup").read_text())
    (names,) = [i for i in installs if "test" not in i.split(",")]  # the demo profile's
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    out = set()
    for name in names.split(","):
        out.add(name)
        if name == "all":
            (inner,) = re.findall(r"trackboard\[([\w,]+)\]", groups["all"][0])
            out |= set(inner.split(","))
    return out


def test_the_demo_profile_installs_every_extra_trackboard_asks_for() -> None:
    required = _required_extras()
    assert {"tensorboard", "visdom", "parquet", "transformers", "keras"} <= required
    assert required | {"dashboard"} <= _demo_extras()
    # visdom 0.2.4 is built from source before the extras: both profiles need it.
    setup = (ROOT / ".ci" / "setup").read_text()
    assert setup.index("'visdom==0.2.4'") < setup.index('if [ "$profile" = "test" ]; then\n  "${PIP')


@pytest.fixture
def store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with Run(project="p", name="one", store=url, system_metrics=False) as run:
        run.log({"loss": 1.0}, step=0)
    (tmp_path / "logs" / "run").mkdir(parents=True)
    return url


def _without(modules: str, args: list[str], cwd: Path) -> list[str]:
    blocker = cwd / "block"
    blocker.mkdir(exist_ok=True)
    (blocker / "sitecustomize.py").write_text(
        "import sys\nfor name in %r:\n    sys.modules[name] = None\n" % modules.split(","))
    done = subprocess.run([str(TRACKBOARD), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(blocker)})
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 1, lines
    return lines


@pytest.mark.parametrize(("modules", "args", "extra"), [
    ("tensorboard,tensorboardX", ["export", "tensorboard", "out"], "tensorboard"),
    ("tensorboard,tensorboardX", ["import", "tensorboard", "logs"], "tensorboard"),
    ("visdom", ["export", "visdom"], "visdom"),
    ("pyarrow", ["export", "parquet", "points.parquet"], "parquet"),
])
def test_a_command_names_the_extra_it_misses(modules: str, args: list[str], extra: str,
                                             store: str, tmp_path: Path) -> None:
    lines = _without(modules, [*args, "--store", store], tmp_path)
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    assert lines[0].endswith(f"pip install 'trackboard[{extra}]'"), lines


@pytest.mark.slow  # AppTest runs of the Export page
def test_the_export_buttons_name_the_extra_they_miss(store: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKBOARD_UI_STORE", store)
    monkeypatch.delenv("TRACKBOARD_PASSWORD", raising=False)
    # pyarrow is not hidden here: pandas itself uses it in this process (the command
    # test above hides it from a whole `trackboard export parquet` instead).
    for name in ("tensorboard", "tensorboardX", "visdom"):
        monkeypatch.setitem(sys.modules, name, None)  # as if never installed
    at = AppTest.from_file(EXPORT_PAGE, default_timeout=60)
    at.query_params["runs"] = _only_run(store)
    at.run()
    assert not at.exception, at.exception
    at.text_input(key="export_tb_dir").set_value(str(tmp_path / "tb"))
    at.button(key="export_tb").click().run()
    assert "trackboard needs tensorboard here: pip install 'trackboard[tensorboard]'" in _errors(at)
    at.button(key="export_vis").click().run()
    assert "trackboard needs visdom here: pip install 'trackboard[visdom]'" in _errors(at)


def _errors(at: AppTest) -> list[str]:
    return [e.value.replace("\\", "") for e in at.error]  # markdown-escaped on the page


def _only_run(url: str) -> str:
    from trackboard.storage import Store

    with Store(url) as s:
        return str(s.runs()["id"].iloc[0])
