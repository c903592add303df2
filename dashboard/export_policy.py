"""Where the Export page may write and push on the server (pure: no Streamlit).

The Export page's TensorBoard and Visdom buttons act on the *server's* disk and
network, not the visitor's. A dashboard that only its owner can reach
(writable, listening on loopback) may write anywhere its owner could. Anyone
else who can open the page (a read-only viewer, a colleague on the LAN) gets a
fenced export instead: TensorBoard folders only under a configured export
directory, Visdom pushes only to a configured server. Downloads to the browser
(CSV/Parquet) are never fenced: they leave nothing on the server.

Configuration comes from the environment, which `trackboard ui --export-dir DIR
--visdom-url URL` fills in for the Streamlit server it starts.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

EXPORT_DIR_ENV = "TRACKBOARD_EXPORT_DIR"
VISDOM_URL_ENV = "TRACKBOARD_VISDOM_URL"
DEFAULT_VISDOM_PORT = 8097


class ExportRefused(ValueError):
    """A server-side export the policy does not allow; the message says why and what to do."""


def is_loopback(address: str | None) -> bool:
    """Whether a listen address reaches this machine only.

    Streamlit listens on every interface when no address is set, so "" and None
    count as open.

    >>> [is_loopback(a) for a in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "", None)]
    [True, True, True, False, False, False]
    """
    if not address:
        return False
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def parse_visdom_url(url: str) -> tuple[str, int]:
    """`http://host:8097` -> ("http://host", 8097), the form export_visdom takes.

    >>> parse_visdom_url("http://visdom:8097"), parse_visdom_url("https://v.example")
    (('http://visdom', 8097), ('https://v.example', 8097))
    """
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1 or (
            parts.path not in ("", "/")):
        raise ValueError(f"Visdom URL {url!r}: give it as http://HOST:PORT, "
                         "e.g. http://127.0.0.1:8097")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{parts.scheme}://{host}", port or DEFAULT_VISDOM_PORT


@dataclass(frozen=True)
class ExportPolicy:
    """What the Export page may do on the server.

    `fenced` is True for a read-only dashboard or one listening beyond loopback.
    A configured `export_dir` or `visdom_url` is honoured in every mode; fenced
    without one, that export is off.

    >>> p = ExportPolicy(fenced=True, export_dir=None, visdom_url=None)
    >>> p.tensorboard_allowed, p.visdom_allowed
    (False, False)
    """

    fenced: bool
    export_dir: Path | None
    visdom_url: str | None

    @classmethod
    def from_environment(cls, *, read_only: bool, address: str | None,
                         environ: Mapping[str, str] | None = None) -> ExportPolicy:
        env = os.environ if environ is None else environ
        raw_dir = env.get(EXPORT_DIR_ENV, "").strip()
        raw_visdom = env.get(VISDOM_URL_ENV, "").strip()
        if raw_visdom:
            parse_visdom_url(raw_visdom)  # a typo fails where it is configured, not at push
        return cls(fenced=read_only or not is_loopback(address),
                   export_dir=Path(raw_dir).expanduser() if raw_dir else None,
                   visdom_url=raw_visdom or None)

    @property
    def tensorboard_allowed(self) -> bool:
        return self.export_dir is not None or not self.fenced

    @property
    def visdom_allowed(self) -> bool:
        return self.visdom_url is not None or not self.fenced

    def tensorboard_dir(self, typed: str) -> Path:
        """The folder to write for what the user typed, or ExportRefused.

        Under an export directory, `typed` is relative to it; `..`, absolute paths
        elsewhere and symlinks leading out are refused (checked on the resolved
        path). Inside the folder, the exporter itself follows no symlink out of it
        (storage/interchange/fence.py), so nothing planted there leads it elsewhere.

        >>> import tempfile; base = Path(tempfile.mkdtemp())
        >>> p = ExportPolicy(fenced=True, export_dir=base, visdom_url=None)
        >>> p.tensorboard_dir("tb/run1") == base.resolve() / "tb" / "run1"
        True
        >>> try:
        ...     p.tensorboard_dir("../etc")
        ... except ExportRefused as exc:
        ...     print(str(exc).split(":")[0])  # doctest: +ELLIPSIS
        folder '../etc' is outside the export directory ...
        """
        typed = typed.strip()
        if not typed:
            raise ExportRefused("give a folder name to write the TensorBoard files into")
        if self.export_dir is None:
            if self.fenced:
                raise ExportRefused(self.tensorboard_off_reason())
            return Path(typed).expanduser()
        base = self.export_dir.resolve()
        target = (base / typed).resolve()  # an absolute `typed` replaces base here
        if target != base and not target.is_relative_to(base):
            raise ExportRefused(
                f"folder {typed!r} is outside the export directory {base}: give a folder "
                "inside it (no '..', no absolute path elsewhere, no symlink leading out)")
        return target

    def visdom_target(self, server: str, port: int) -> tuple[str, int]:
        """The Visdom server to push to: the configured one, or (unfenced) what was typed."""
        if self.visdom_url is not None:
            return parse_visdom_url(self.visdom_url)
        if self.fenced:
            raise ExportRefused(self.visdom_off_reason())
        return server, port

    def tensorboard_off_reason(self) -> str:
        return ("Writing TensorBoard folders on the server is off because this dashboard "
                f"{self._why()}. Start it with `trackboard ui --export-dir DIR` (or set "
                f"{EXPORT_DIR_ENV}) to allow folders under DIR.")

    def visdom_off_reason(self) -> str:
        return ("Pushing to Visdom is off because this dashboard "
                f"{self._why()}. Start it with `trackboard ui --visdom-url "
                f"http://HOST:PORT` (or set {VISDOM_URL_ENV}) to allow that one server.")

    @staticmethod
    def _why() -> str:
        return "is read-only or listens beyond 127.0.0.1"
