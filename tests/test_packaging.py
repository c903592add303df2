"""The installed package holds every sub-package: pyproject.toml lists packages by hand
(the three top-level folders install under one import name), so a new folder that is
not listed works in an editable checkout and is missing from a wheel or the image."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_sub_package_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for import_name, folder in config["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([import_name, *rel.parts]))
    assert found - listed == set(), "add these to [tool.setuptools] packages"
    assert listed - found == set(), "these listed packages do not exist"


def test_building_the_package_warns_about_nothing(tmp_path: Path) -> None:
    # `pip install -e .` calls the build backend three times (requirements, metadata,
    # the build); a deprecated field in pyproject.toml printed its warning each time.
    # The same backend call, with every warning shown, must print none.
    import subprocess
    import sys

    code = ("import setuptools.build_meta as b, sys; "
            "print(b.prepare_metadata_for_build_wheel(sys.argv[1]))")
    done = subprocess.run([sys.executable, "-W", "always", "-c", code, str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    output = done.stdout + done.stderr
    assert "Warning" not in output and "deprecat" not in output.lower(), output
    metadata = (tmp_path / done.stdout.strip().splitlines()[-1] / "METADATA").read_text()
    assert "License-Expression: Apache-2.0" in metadata
