"""Server side of the control socket (``DATA/run/control.sock``, mode 0660, JSON lines).

The daemon listens on no TCP port; local tools (CLI, admin web) connect here. One request per
connection (see :mod:`controller.control.client` for the protocol). Each connection gets a short-lived
thread that reads the peer's credentials from the kernel (``SO_PEERCRED``: the account that
connected, which a client cannot forge), parses the request and calls ``handler(request, progress,
peer)``; the handler returns the result dict, or raises :class:`~controller.errors.KunciError` whose message goes back to the
client. Unexpected exceptions are logged and answered with a generic error: nothing a client
sends can stop the server or the door loop.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.errors import DataDirError, KunciError
from controller.i18n import T

log = logging.getLogger(__name__)

#: Largest request line accepted, in bytes.
MAX_REQUEST_BYTES = 64 * 1024
#: The one request allowed to be larger: a bulk import of people (``admin`` op ``user.import``, its rows in
#: the request so that it stays one all-or-nothing change; see :mod:`controller.store.people_import`). The
#: clients put ``cmd`` and ``op`` first, so the server knows before reading past ``MAX_REQUEST_BYTES``.
IMPORT_REQUEST_PREFIX = b'{"cmd":"admin","op":"user.import",'
IMPORT_MAX_REQUEST_BYTES = 8 * 1024 * 1024
#: Seconds a client has to send its request line.
REQUEST_TIMEOUT_SECONDS = 5.0
#: The longest path a Unix socket address holds on Linux (``sun_path`` is 108 bytes with its NUL).
MAX_SOCKET_PATH = 107

Progress = Callable[[str, str], None]


@dataclass(frozen=True)
class Peer:
    """The local process at the other end of a control connection, as the kernel reports it."""

    pid: int
    uid: int
    gid: int

    @property
    def account(self) -> str:
        """The account name of ``uid`` (``uid<N>`` when it has none)."""
        try:
            return pwd.getpwuid(self.uid).pw_name
        except KeyError:
            return f"uid{self.uid}"

    @classmethod
    def of(cls, conn: socket.socket) -> Peer:
        """The credentials of ``conn``'s peer (``SO_PEERCRED``, Linux)."""
        raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, gid = struct.unpack("3i", raw)
        return cls(pid, uid, gid)


Handler = Callable[[dict[str, Any], Progress, Peer], dict[str, Any]]


class ControlServer:
    """Accepts connections on a Unix socket and dispatches each request to ``handler``.

    :param socket_path: where to create the socket; a stale socket file is replaced.
    :param handler: ``handler(request, progress, peer) -> result``; ``progress(step, message)``
        sends a progress line to the client; ``peer`` is the connecting :class:`Peer`.
    :param mode: permission bits of the socket file (default 0o660).
    """

    def __init__(self, socket_path: Path, handler: Handler, *, mode: int = 0o660) -> None:
        self.socket_path = Path(socket_path)
        self._handler = handler
        self._mode = mode
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        """Bind, listen and start the accept thread.

        :raises DataDirError: the socket's path is longer than a Unix socket address allows (107 bytes
            on Linux): the data directory must move to a shorter path.
        """
        if len(os.fsencode(self.socket_path)) > MAX_SOCKET_PATH:
            raise DataDirError(T(
                "the control socket's path {path} is {size} bytes, more than a Unix socket allows ({limit}); "
                "use a data directory with a shorter path",
                path=self.socket_path, size=len(os.fsencode(self.socket_path)), limit=MAX_SOCKET_PATH))
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.socket_path.unlink()
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o117)
        try:
            sock.bind(str(self.socket_path))
        finally:
            os.umask(old_umask)
        os.chmod(self.socket_path, self._mode)
        sock.listen(16)
        sock.settimeout(0.1)  # how quickly close() is noticed
        self._sock = sock
        self._thread = threading.Thread(target=self._accept_loop, name="kunci-control", daemon=True)
        self._thread.start()
        log.info("control socket listening at %s", self.socket_path)

    def close(self) -> None:
        """Stop accepting and remove the socket file (idempotent)."""
        self._stopping.set()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        try:
            self.socket_path.unlink()
        except FileNotFoundError:
            pass

    def __enter__(self) -> ControlServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            sock = self._sock
            if sock is None:
                return
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                log.exception("control socket accept failed")
                continue
            threading.Thread(target=self._serve, args=(conn,), name="kunci-control-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(REQUEST_TIMEOUT_SECONDS)

            def send(obj: dict[str, Any]) -> None:
                conn.sendall(json.dumps(obj, separators=(",", ":"), default=str).encode() + b"\n")

            def progress(step: str, message: str = "") -> None:
                try:
                    send({"progress": step, "message": message})
                except OSError:
                    log.debug("client went away during progress")

            try:
                peer = Peer.of(conn)
                request = self._read_request(conn)
                conn.settimeout(None)
                result = self._handler(request, progress, peer)
                send({"ok": True, "result": result})
            except KunciError as exc:
                self._try_send(send, {"ok": False, "error": exc.english(), "message": exc.wire()})
            except (ValueError, UnicodeDecodeError) as exc:
                self._try_send(send, {"ok": False, "error": f"bad request: {exc}"})
            except OSError:
                log.debug("control client connection failed", exc_info=True)
            except Exception:
                log.exception("control command failed")
                self._try_send(send, {"ok": False, "error": "internal error in the door daemon (see its log)"})

    @staticmethod
    def _try_send(send: Callable[[dict[str, Any]], None], obj: dict[str, Any]) -> None:
        try:
            send(obj)
        except OSError:
            pass

    @staticmethod
    def _read_request(conn: socket.socket) -> dict[str, Any]:
        buf = bytearray()
        while b"\n" not in buf:
            chunk = conn.recv(4096)
            if not chunk:
                break
            buf += chunk
            if len(buf) > MAX_REQUEST_BYTES and (len(buf) > IMPORT_MAX_REQUEST_BYTES
                                                 or not buf.startswith(IMPORT_REQUEST_PREFIX)):
                raise ValueError("request too large")
        line = bytes(buf).split(b"\n", 1)[0]
        request = json.loads(line.decode("utf-8"))
        if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
            raise ValueError('a request is a JSON object with a "cmd" string')
        return request
