"""A throwaway PostgreSQL server for the test session (real server, no mocks)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.support.ports import free_port

PG_BIN_CANDIDATES = ["/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin",
                     "/usr/lib/postgresql/15/bin"]


def pg_bin() -> Path:
    for cand in PG_BIN_CANDIDATES:
        if Path(cand, "initdb").exists():
            return Path(cand)
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RuntimeError("PostgreSQL server binaries not found: run `bash .ci/setup` "
                       "(apt-get install postgresql) before the tests")


def _as_owner(cmd: list[str]) -> list[str]:
    # initdb and pg_ctl refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class PostgresServer:
    datadir: Path
    port: int
    bindir: Path

    @property
    def base_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"

    def url(self, db: str = "postgres") -> str:
        return f"{self.base_url}/{db}"

    def psql(self, sql: str, db: str = "postgres") -> str:
        out = subprocess.run(
            [str(self.bindir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U",
             "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-Atc", sql],
            check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def create_database(self) -> str:
        name = "tb_" + uuid.uuid4().hex[:10]
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(_as_owner([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m",
                                  mode, "-w", "stop"]), check=True, capture_output=True)

    def start(self) -> None:
        subprocess.run(_as_owner([
            str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-w", "-t", "60",
            "-l", str(self.datadir / "server.log"),
            "-o", f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 "
                  "-c fsync=off -c max_connections=200 -c shared_buffers=256MB",
            "start"]), check=True, capture_output=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                self.psql("SELECT 1")
                return
            except subprocess.CalledProcessError:
                time.sleep(0.2)
        raise RuntimeError("PostgreSQL did not accept connections within 30 s")


def start_postgres(port: int | None = None) -> PostgresServer:
    bindir = pg_bin()
    root = Path(tempfile.mkdtemp(prefix="tb-pg-"))
    datadir = root / "data"
    datadir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(datadir, "postgres")
    subprocess.run(_as_owner([str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres",
                              "-A", "trust", "-E", "UTF8", "--no-sync"]),
                   check=True, capture_output=True)
    server = PostgresServer(datadir, port or free_port(), bindir)
    server.start()
    return server


def remove(server: PostgresServer) -> None:
    try:
        server.stop("immediate")
    except subprocess.CalledProcessError:
        pass
    shutil.rmtree(server.datadir.parent, ignore_errors=True)
