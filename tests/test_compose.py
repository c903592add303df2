"""docker-compose.yml, the Dockerfile and .env.example are wired together correctly.

No Docker engine runs here: the files are parsed as Compose and Docker would read
them (tests/support/compose.py) and checked against what a team relies on. The
entrypoint and the read-only role run for real in test_wait_ready.py and
test_readonly_role.py.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

import jsonschema
import pytest

from tests.support import compose as c

SERVICES = ("db", "roles", "migrate", "dashboard", "tensorboard", "visdom")
VIEWERS = ("tensorboard", "visdom")
UI_COMMAND = ["trackboard", "ui", "--host", "0.0.0.0", "--port", "8501"]


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return c.load_compose()


@pytest.fixture(scope="module")
def example_env() -> dict[str, str]:
    return c.read_env_file()


@pytest.fixture(scope="module")
def resolved(doc: dict[str, Any], example_env: dict[str, str]) -> dict[str, Any]:
    """The compose file after `cp .env.example .env`."""
    return c.interpolate(doc, example_env)


def _ports(service: dict[str, Any]) -> list[str]:
    return [str(p) for p in service.get("ports", [])]


def test_services_images_and_builds(doc: dict[str, Any]) -> None:
    services = doc["services"]
    assert set(SERVICES) <= set(services), f"missing services: {set(SERVICES) - set(services)}"
    assert services["db"]["image"] == "postgres:16"
    for name in ("migrate", "dashboard", "tensorboard"):
        build = services[name]["build"]
        assert build["context"] == "." and build["dockerfile"] == "Dockerfile"
        assert build["target"] == "dashboard"
    assert services["visdom"]["build"]["target"] == "visdom"
    stage_names = {s.name for s in c.dockerfile_stages()}
    for name in ("migrate", "dashboard", "tensorboard", "visdom"):
        assert services[name]["build"]["target"] in stage_names


def test_compose_file_is_valid_compose_spec(resolved: dict[str, Any]) -> None:
    schema = c.load_schema()
    validator = jsonschema.Draft201909Validator(schema)
    errors = sorted(validator.iter_errors(resolved), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_db_has_named_volume_healthcheck_and_init_scripts(doc: dict[str, Any]) -> None:
    db = doc["services"]["db"]
    assert "pgdata:/var/lib/postgresql/data" in db["volumes"]
    assert "pgdata" in doc["volumes"], "pgdata must be a named (top-level) volume"
    test = db["healthcheck"]["test"]
    command = test[1] if test[0] == "CMD-SHELL" else " ".join(test[1:])
    assert command.startswith("pg_isready")
    # Over TCP: the socket answers while the image still initialises a new volume.
    assert "-h 127.0.0.1" in command
    mounts = {v.split(":")[1]: v.split(":")[0] for v in db["volumes"]}
    assert c.ROOT.joinpath(mounts["/docker-entrypoint-initdb.d"], c.INITDB_SCRIPT.name).exists()
    assert c.ROOT.joinpath(mounts["/trackboard/roles.sh"]) == c.ROLES_SCRIPT
    assert (c.ROOT / mounts["/trackboard/sql"] / c.ROLES_SQL.name).exists()
    # The init script runs the roles script from where the compose file mounts it.
    assert "sh /trackboard/roles.sh" in c.INITDB_SCRIPT.read_text()


def test_roles_then_migrations_then_dashboard(doc: dict[str, Any]) -> None:
    """roles (every `up`) -> migrate (one-shot, the owner) -> dashboard (read-only)."""
    services = doc["services"]
    roles, migrate, dashboard = services["roles"], services["migrate"], services["dashboard"]
    assert roles["depends_on"]["db"]["condition"] == "service_healthy"
    assert roles["image"] == services["db"]["image"], "psql of the same PostgreSQL version"
    assert roles["entrypoint"] == ["sh", "/trackboard/roles.sh"]
    assert "./docker/roles.sh:/trackboard/roles.sh:ro" in roles["volumes"]
    assert migrate["depends_on"]["roles"]["condition"] == "service_completed_successfully"
    assert migrate["command"] == ["trackboard", "db", "upgrade"]
    assert dashboard["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    for name in ("roles", "migrate"):
        assert services[name]["restart"] == "no", f"{name} is a one-shot"
    health = " ".join(dashboard["healthcheck"]["test"])
    assert "http://127.0.0.1:8501/_stcore/health" in health


def test_every_port_is_published_on_a_variable_host_defaulting_to_loopback(
        doc: dict[str, Any], resolved: dict[str, Any], example_env: dict[str, str]) -> None:
    published = {name: _ports(svc) for name, svc in doc["services"].items() if svc.get("ports")}
    assert {"db", "dashboard", "tensorboard", "visdom"} <= set(published)
    required = {k: v for k, v in example_env.items() if "PASSWORD" in k}
    bare = c.interpolate(doc, required)  # a .env that sets only the passwords
    for name, ports in published.items():
        for raw, in_example, in_bare in zip(ports, _ports(resolved["services"][name]),
                                            _ports(bare["services"][name])):
            host = re.match(r"\$\{[^}]*\}", raw)
            assert host, f"{name}: {raw!r} must start with a ${{..._BIND:-127.0.0.1}} host"
            refs = c.var_refs(host.group(0))
            assert len(refs) == 1 and refs[0].name.endswith("_BIND"), (name, raw)
            assert refs[0].op == ":-" and refs[0].arg == "127.0.0.1", (name, raw)
            assert in_example.startswith("127.0.0.1:") and in_bare.startswith("127.0.0.1:")
    # Opening the database to training machines is one deliberate line in .env.
    lan = c.interpolate(doc, {**example_env, "TRACKBOARD_DB_BIND": "10.1.2.3"})
    assert _ports(lan["services"]["db"]) == ["10.1.2.3:5432:5432"]
    assert _ports(lan["services"]["dashboard"]) == ["127.0.0.1:8501:8501"]
    assert _ports(resolved["services"]["dashboard"]) == ["127.0.0.1:8501:8501"]


def test_env_example_lists_exactly_the_variables_compose_uses(
        doc: dict[str, Any], example_env: dict[str, str]) -> None:
    used = {ref.name for text in c.strings(doc) for ref in c.var_refs(text)}
    assert used, "the compose file uses no ${VARS}?"
    assert used - set(example_env) == set(), "add these to .env.example"
    assert set(example_env) - used == set(), "stale variables in .env.example"
    # Without a .env, compose must refuse to start rather than use an empty password.
    with pytest.raises(c.MissingVariable, match="POSTGRES_PASSWORD"):
        c.interpolate(doc, {})


def test_no_literal_passwords_in_compose_file(doc: dict[str, Any],
                                              example_env: dict[str, str]) -> None:
    text = c.COMPOSE_FILE.read_text()
    for key, value in example_env.items():
        if "PASSWORD" in key and value:
            assert value not in text, f"the placeholder of {key} is pasted into the compose file"
    checked = 0
    for name, service in doc["services"].items():
        for key, value in c.env_entries(service).items():
            if "PASSWORD" in key:
                refs = c.var_refs(value)
                assert len(refs) == 1 and value == f"${{{refs[0].name}{refs[0].op or ''}"\
                    f"{refs[0].arg or ''}}}", f"{name}.{key} must be only a ${{VAR}}"
                checked += 1
    tokens = {name: f"__{name}__" for t in c.strings(doc) for name in
              (ref.name for ref in c.var_refs(t))}
    for value in c.strings(c.interpolate(doc, tokens)):
        for password in re.findall(r"://[^:/@\s]+:([^@\s]+)@", value):
            assert re.fullmatch(r"__\w+_PASSWORD__", password), \
                f"a URL's password must be a ${{..._PASSWORD}} variable: {value!r}"
            checked += 1
    for text_value in c.strings(doc):
        for ref in c.var_refs(text_value):
            if "PASSWORD" in ref.name and ref.op in (":-", "-"):
                # Only the optional page password may default (to empty: no login form).
                assert ref.name == "TRACKBOARD_PASSWORD" and ref.arg == "", ref
    assert checked >= 6


def test_each_service_holds_only_its_own_role(resolved: dict[str, Any],
                                             example_env: dict[str, str]) -> None:
    e = example_env
    services = resolved["services"]

    def url(user: str, password: str) -> str:
        return f"postgresql+psycopg://{e[user]}:{e[password]}@db:5432/{e['POSTGRES_DB']}"

    dashboard = c.env_entries(services["dashboard"])
    assert dashboard["TRACKBOARD_STORE"] == url("TRACKBOARD_RO_USER", "TRACKBOARD_RO_PASSWORD")
    assert c.env_entries(services["migrate"])["TRACKBOARD_STORE"] == url(
        "TRACKBOARD_OWNER_USER", "TRACKBOARD_OWNER_PASSWORD")
    # The long-running dashboard never holds a password that can write or migrate.
    for key in ("POSTGRES_PASSWORD", "TRACKBOARD_OWNER_PASSWORD", "TRACKBOARD_WRITER_PASSWORD"):
        assert e[key] not in " ".join(dashboard.values()), key
    assert not any("MIGRATE" in k for k in dashboard)
    roles = c.env_entries(services["roles"])
    assert roles["PGHOST"] == "db" and roles["PGUSER"] == e["POSTGRES_USER"]
    assert roles["PGPASSWORD"] == e["POSTGRES_PASSWORD"]
    users = {e[k] for k in ("POSTGRES_USER", "TRACKBOARD_OWNER_USER", "TRACKBOARD_WRITER_USER",
                            "TRACKBOARD_RO_USER")}
    assert len(users) == 4, "superuser, owner, writer and reader are four different roles"
    # The Export page in the image: writes under the shared volume, pushes to compose's Visdom.
    assert dashboard["TRACKBOARD_EXPORT_DIR"] == "/exports"
    assert dashboard["TRACKBOARD_VISDOM_URL"] == "http://visdom:8097"
    assert "exports:/exports" in services["dashboard"]["volumes"]


def test_entrypoint_waits_then_runs_the_command_and_never_migrates(doc: dict[str, Any]) -> None:
    stages = {s.name: s for s in c.dockerfile_stages()}
    entrypoint = c.exec_form(stages["dashboard-base"].args("ENTRYPOINT")[-1])
    assert entrypoint == ["/usr/local/lib/trackboard/entrypoint.sh"]
    assert any("docker/entrypoint.sh docker/wait_ready.py /usr/local/lib/trackboard/" in arg
               for arg in stages["dashboard-base"].args("COPY"))
    command = doc["services"]["dashboard"]["command"]
    assert command[:6] == UI_COMMAND and "--read-only" in command
    assert c.exec_form(stages["dashboard"].args("CMD")[-1]) == UI_COMMAND
    steps = [line.strip() for line in c.ENTRYPOINT.read_text().splitlines()
             if line.strip() and not line.strip().startswith("#")]
    text = "\n".join(steps)
    assert text.index('python "$(dirname "$0")/wait_ready.py"') < text.index('exec "$@"')
    assert "db upgrade" not in text, "migrations are the one-shot migrate service's job"
    assert steps[0] == "set -eu", "a failed wait must stop the container"
    assert "--store" not in text, "URLs go through the environment, not the command line"


def test_shell_scripts_keep_lf_line_endings() -> None:
    attributes = c.ROOT.joinpath(".gitattributes").read_text().splitlines()
    assert "*.sh      text eol=lf" in attributes
    for script in (c.ENTRYPOINT, c.ROLES_SCRIPT, c.INITDB_SCRIPT):
        assert b"\r" not in script.read_bytes(), script
        assert script.read_text().startswith("#!/bin/sh\n"), script
    for script in c.ROOT.glob(".ci/*"):
        assert b"\r" not in script.read_bytes(), script


def test_no_file_refers_to_a_missing_readme() -> None:
    tracked = [p for p in (c.COMPOSE_FILE, c.DOCKERFILE, c.ENV_EXAMPLE, c.ENTRYPOINT,
                           c.ROLES_SCRIPT, c.INITDB_SCRIPT, c.ROLES_SQL)]
    for path in tracked:
        for name in re.findall(r"\b(README[\w.]*\.md)", path.read_text()):
            assert (c.ROOT / name).exists(), f"{path.name} refers to {name}, which does not exist"


def test_viewers_are_optional_and_serve_the_shared_exports(doc: dict[str, Any]) -> None:
    services = doc["services"]
    for name in ("db", "roles", "migrate", "dashboard"):
        assert "profiles" not in services[name], f"{name} must start with plain `up`"
    for name in VIEWERS:
        assert services[name]["profiles"] == ["viewers"]
        assert any(v.startswith("exports:/exports") for v in services[name]["volumes"])
    assert "exports:/exports" in services["dashboard"]["volumes"]
    assert "exports" in doc["volumes"]
    tb = services["tensorboard"]
    argv = tb["entrypoint"] + tb["command"]
    assert argv[:3] == ["python", "-m", "tensorboard.main"]
    assert argv[argv.index("--logdir") + 1] == "/exports/tb"
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    visdom = services["visdom"]
    stage = {s.name: s for s in c.dockerfile_stages()}["visdom"]
    entry = c.exec_form(stage.args("ENTRYPOINT")[-1])
    # Offline start (no CDN download at run time, PLATFORM.md); all interfaces.
    assert entry == ["python", "-c", "from visdom.server.run_server import main; main()"]
    assert "-bind_local" not in visdom["command"]
    assert visdom["command"][visdom["command"].index("-env_path") + 1].startswith("/exports/")
    assert any("download_scripts()" in run for run in stage.args("RUN"))


def _effective_user(stages: dict[str | None, c.Stage], name: str) -> str:
    stage = stages[name]
    users = stage.args("USER")
    if users:
        return users[-1]
    if stage.base in stages:
        return _effective_user(stages, stage.base)
    return "root"


def test_dockerfile_slim_image_without_torch_as_non_root() -> None:
    stages_list = c.dockerfile_stages()
    stages = {s.name: s for s in stages_list}
    assert stages_list[0].base == "python:3.11-slim"
    assert stages_list[-1].name == "dashboard", "plain `docker build .` must give the dashboard"
    installs = [seg.strip() for s in stages_list for run in s.args("RUN")
                for seg in run.split("&&") if "pip install" in seg]
    assert any("[dashboard,postgres,tensorboard,visdom]" in seg for seg in installs), installs
    for seg in installs:
        packages = [w for w in shlex.split(seg)[2:] if not w.startswith("-")]
        assert not any(re.match(r"(torch|lightning|tensorflow|jax)\b", p.split("/")[-1])
                       for p in packages), seg
        assert "all]" not in seg and "torch]" not in seg, seg
    # The build itself fails if any dependency ever drags PyTorch in.
    assert any("find_spec('torch')" in run for run in stages["dashboard-base"].args("RUN"))
    for name in ("dashboard", "visdom"):
        assert _effective_user(stages, name) not in ("root", "0", "0:0"), name
    assert "8501" in stages["dashboard"].args("EXPOSE")
    assert "PIP_NO_CACHE_DIR=1" in " ".join(stages["dashboard-base"].args("ENV"))


def test_dockerignore_keeps_secrets_and_databases_out() -> None:
    lines = [ln.strip() for ln in c.DOCKERIGNORE.read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "*", "allow-list: everything is excluded first"
    included = [ln[1:] for ln in lines if ln.startswith("!")]
    for secret in (".env", "trackboard.db", ".venv/", ".git/"):
        assert not any(re.fullmatch(pat.replace("*", ".*").rstrip("/") + "/?", secret)
                       for pat in included), secret
    for needed in ("pyproject.toml", "storage/", "loggers/", "dashboard/", "docker/"):
        assert needed in included, needed
    assert ".env" in c.ROOT.joinpath(".gitignore").read_text().split()


def test_readme_team_setup_has_the_commands(example_env: dict[str, str]) -> None:
    readme = c.ROOT / "docs" / "deployment.md"  # the README links the team setup there
    text = readme.read_text()
    for snippet in ("cp .env.example .env", "docker compose up -d",
                    "docker compose --profile viewers up -d",
                    "TRACKBOARD_STORE=postgresql+psycopg://", "pip install 'trackboard[postgres]'",
                    "TRACKBOARD_DB_BIND", "pg_dump", "docker/roles.sh", "TRACKBOARD_WRITER_USER",
                    "trackboard export tensorboard /exports/tb"):
        assert snippet in text, f"{readme.name} lacks {snippet!r}"
