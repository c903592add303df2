"""A PostgreSQL server that refuses every login with an error holding the password.

PostgreSQL itself never repeats a password, so against a real server (or a closed
port) a test of masking can never fail: the driver's error has nothing to mask. A
proxy or pooler in front of the database may well repeat what it was given, though,
and whatever the driver reports is shown by trackboard (warnings, one-line errors).
This server speaks just enough of the wire protocol (v3) for libpq: it declines SSL
and GSS encryption, asks for a cleartext password, and answers with a FATAL error
that repeats the login both as a URL and as `password=...`, then hangs up. It is a
fake at a boundary we cannot run otherwise (a misbehaving server).
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
_PROTOCOL_3 = 196608


@dataclass
class EchoServer:
    port: int
    passwords: list[str] = field(default_factory=list)  # every password a client sent

    def url(self, user: str, password: str, database: str = "runs") -> str:
        return f"postgresql+psycopg://{user}:{password}@127.0.0.1:{self.port}/{database}"


def _read_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data


def _serve_one(conn: socket.socket, server: EchoServer) -> None:
    with conn:
        conn.settimeout(10)
        while True:  # SSLRequest / GSSENCRequest first (declined), then the startup message
            length, code = struct.unpack("!ii", _read_exact(conn, 8))
            body = _read_exact(conn, length - 8)
            if code in (_SSL_REQUEST, _GSSENC_REQUEST):
                conn.sendall(b"N")
                continue
            if code != _PROTOCOL_3:
                return
            break
        parts = body.split(b"\0")
        params = dict(zip(parts[0::2], parts[1::2]))
        user = params.get(b"user", b"").decode()
        database = params.get(b"database", b"").decode()
        conn.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
        kind = _read_exact(conn, 1)
        length = struct.unpack("!i", _read_exact(conn, 4))[0]
        payload = _read_exact(conn, length - 4)
        if kind != b"p":
            return
        password = payload.rstrip(b"\0").decode()
        server.passwords.append(password)
        message = (f'password authentication failed for user "{user}" '
                   f"(login postgresql://{user}:{password}@127.0.0.1:{server.port}/{database}, "
                   f"host=127.0.0.1 user={user} password={password} dbname={database})")
        fields = b"".join(tag + value.encode() + b"\0" for tag, value in (
            (b"S", "FATAL"), (b"V", "FATAL"), (b"C", "28P01"), (b"M", message)))
        body = fields + b"\0"
        conn.sendall(b"E" + struct.pack("!i", len(body) + 4) + body)


@contextmanager
def echo_server() -> Iterator[EchoServer]:
    """Listen on 127.0.0.1 (a free port) until the block ends."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)  # so that the accept loop sees `stop` (close() would not wake it)
    server = EchoServer(listener.getsockname()[1])
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            threading.Thread(target=_serve_quietly, args=(conn, server), daemon=True).start()

    thread = threading.Thread(target=accept, name="pg-echo", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        listener.close()
        thread.join(5)


def _serve_quietly(conn: socket.socket, server: EchoServer) -> None:
    try:
        _serve_one(conn, server)
    except (OSError, ConnectionError, struct.error):
        pass  # a client that hangs up early: nothing to report
