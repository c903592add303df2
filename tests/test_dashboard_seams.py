"""Every page takes the store from dashboard/data.py and the password from dashboard/auth.py.

Read from the pages' source (no Streamlit run): a page that built its own Store
(once the Export page read $TRACKBOARD_STORE instead of the server's store) or
checked the password its own way would pass the AppTest of the pages it happens
to open; this test covers every file in views/ and app.py. What the pages then
show is tested in test_dashboard_guard.py and test_dashboard_pages.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DASHBOARD = Path(__file__).resolve().parents[1] / "dashboard"
PAGES = sorted(p for p in (DASHBOARD / "views").glob("*.py") if p.name != "__init__.py")
# What only data.py (the store) and auth.py (the password) may touch.
STORE_NAMES = {"Store", "opened_store", "build_engine", "create_engine", "resolve_url"}
AUTH_NAMES = {"hmac", "compare_digest", "password_ok", "PASSWORD_ENV", "auth_ok"}


def _names(tree: ast.AST) -> set[str]:
    """Every name, attribute, imported name and string constant in a module."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.Attribute):
            out.add(node.attr)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out.update(alias.name.rpartition(".")[2] for alias in node.names)
            if isinstance(node, ast.ImportFrom) and node.module:
                out.add(node.module.rpartition(".")[2])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.add(node.value)
    return out


def _calls(tree: ast.AST) -> list[str]:
    """Module-level calls in order, as dotted names: ["auth.require_password", ...]."""
    out = []
    for stmt in getattr(tree, "body", []):
        value = getattr(stmt, "value", None)
        if isinstance(value, ast.Call):
            out.append(ast.unparse(value.func))
    return out


@pytest.mark.parametrize("page", [*PAGES, DASHBOARD / "app.py"], ids=lambda p: p.stem)
def test_no_page_opens_a_store_or_checks_a_password_itself(page: Path) -> None:
    names = _names(ast.parse(page.read_text()))
    assert not names & STORE_NAMES, f"{page.name} opens a store: use dashboard.data"
    assert not names & AUTH_NAMES, f"{page.name} checks a password: use dashboard.auth"
    assert not {n for n in names if n.startswith("TRACKBOARD_")} and "environ" not in names, (
        f"{page.name} reads the environment: data.source() says which store")
    assert {"data", "auth"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_every_page_asks_the_password_before_anything_else(page: Path) -> None:
    assert _calls(ast.parse(page.read_text()))[0] == "auth.require_password"


def test_the_app_asks_the_password_before_reading_the_store() -> None:
    calls = _calls(ast.parse((DASHBOARD / "app.py").read_text()))
    assert calls.index("auth.require_password") < calls.index("page.run")
    assert "data.source" in calls[calls.index("auth.require_password"):]


def test_only_data_py_opens_the_store_among_the_page_modules() -> None:
    # The CLI (cli*.py) opens stores by design; every module a page uses does not.
    for module in sorted(DASHBOARD.glob("*.py")):
        if module.name.startswith("cli") or module.name == "data.py":
            continue
        assert not _names(ast.parse(module.read_text())) & STORE_NAMES, module.name
