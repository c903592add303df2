"""Reading the team deployment files the way Docker Compose and Docker would.

No Docker engine runs here, so the tests parse docker-compose.yml with PyYAML,
substitute ${VARS} with Compose's rules and read the Dockerfile's instructions.
compose_spec.json beside this file is the Compose Specification's JSON schema as
shipped inside the docker-compose 1.29.2 wheel on PyPI (Apache-2.0); it is kept
here so validating needs no network.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
INITDB_SCRIPT = ROOT / "docker" / "initdb" / "10-roles.sh"
ROLES_SCRIPT = ROOT / "docker" / "roles.sh"
ROLES_SQL = ROOT / "docker" / "sql" / "roles.sql"
SCHEMA_FILE = Path(__file__).with_name("compose_spec.json")

# $$ (a literal $), ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?err}, ${NAME?err}, $NAME
_VAR = re.compile(r"\$(?:(?P<dollar>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                  r"(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


class MissingVariable(ValueError):
    """A ${NAME:?message} variable is unset: Compose refuses to start."""


@dataclass(frozen=True)
class VarRef:
    name: str
    op: str | None
    arg: str | None


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text())


def read_env_file(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """KEY=VALUE lines of a Compose .env file (comments and blank lines skipped)."""
    env: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ValueError(f"{path.name}:{number}: not a KEY=VALUE line: {line!r}")
        env[key] = value
    return env


def strings(node: Any) -> Iterator[str]:
    """Every string in a parsed YAML document, mapping keys included."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def var_refs(text: str) -> list[VarRef]:
    """The variables a Compose string refers to ($$ escapes excluded)."""
    refs = []
    for m in _VAR.finditer(text):
        if m.group("dollar"):
            continue
        name = m.group("name") or m.group("bare")
        refs.append(VarRef(name, m.group("op"), m.group("arg")))
    return refs


def interpolate_text(text: str, env: Mapping[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group("dollar"):
            return "$"
        name = m.group("name") or m.group("bare")
        op, arg = m.group("op"), m.group("arg") or ""
        value = env.get(name)
        missing = value is None or (value == "" and op is not None and op.startswith(":"))
        if op in (":-", "-") and missing:
            return arg
        if op in (":?", "?") and missing:
            raise MissingVariable(f"{name}: {arg}")
        return value or ""
    return _VAR.sub(sub, text)


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    """The document as Compose sees it after substituting variables from `env`."""
    if isinstance(node, str):
        return interpolate_text(node, env)
    if isinstance(node, Mapping):
        return {interpolate(k, env): interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    return node


def env_entries(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's `environment`, whether written as a mapping or a KEY=VALUE list."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        return dict(item.partition("=")[::2] for item in raw)
    return {str(k): "" if v is None else str(v) for k, v in raw.items()}


@dataclass
class Stage:
    """One FROM ... stage of a Dockerfile: its base, name and instructions."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [arg for kw, arg in self.instructions if kw == keyword]


def dockerfile_stages(path: Path = DOCKERFILE) -> list[Stage]:
    """The Dockerfile's stages, with continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, arg = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = arg.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], name))
        elif stages:
            stages[-1].instructions.append((keyword, arg.strip()))
    return stages


def exec_form(arg: str) -> list[str]:
    """The JSON (exec) form of ENTRYPOINT/CMD; shell form is refused on purpose."""
    value = json.loads(arg)
    assert isinstance(value, list), f"expected exec form [...], got {arg!r}"
    return value
