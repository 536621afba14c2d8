"""Client side of the daemon's control socket (``DATA/run/control.sock``, JSON lines).

One request per connection: send one JSON object and a newline; read zero or more
``{"progress": ...}`` lines, then one final ``{"ok": true, "result": {...}}`` or
``{"ok": false, "error": "..."}``. Used by the CLI (``kunci status``, ``kunci sim``,
``kunci finger``) and by the admin web, which holds no secrets and no hardware.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controller.errors import DaemonUnavailable, KunciError
from controller.i18n import T, Text

log = logging.getLogger(__name__)

#: Largest reply line accepted from the daemon, in bytes.
MAX_LINE_BYTES = 1 << 20


class DaemonError(KunciError, RuntimeError):
    """The daemon understood the request and refused it; the message is meant for a person."""


ProgressCallback = Callable[[dict[str, Any]], None]


class ControlClient:
    """Talks to the door daemon.

    :param socket_path: path of the Unix socket (``DataDir.socket_path``).
    :param timeout: seconds to wait for each reply line (default 5.0). Enrolment
        passes a longer timeout because a person has to place a finger.
    """

    def __init__(self, socket_path: str | Path, timeout: float = 5.0) -> None:
        self.socket_path = Path(socket_path)
        self.timeout = timeout

    def call(self, cmd: str, **params: Any) -> dict[str, Any]:
        """Send ``cmd`` with ``params`` and return the ``result`` object (progress lines ignored)."""
        return self.stream(cmd, None, **params)

    def stream(self, cmd: str, on_progress: ProgressCallback | None = None, **params: Any) -> dict[str, Any]:
        """Like :meth:`call`, passing each progress line to ``on_progress`` as it arrives."""
        request = json.dumps({"cmd": cmd, **params}, separators=(",", ":")).encode() + b"\n"
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            sock.connect(str(self.socket_path))
        except FileNotFoundError as exc:
            raise DaemonUnavailable(T("the door daemon is not running (no socket at {path})", path=self.socket_path)) from exc
        except OSError as exc:
            raise DaemonUnavailable(
                T("cannot reach the door daemon at {path}: {reason}", path=self.socket_path, reason=exc.strerror or exc)
            ) from exc
        with sock:
            try:
                sock.sendall(request)
                reader = sock.makefile("rb")
                while True:
                    line = reader.readline(MAX_LINE_BYTES)
                    if not line:
                        raise DaemonUnavailable(T("the door daemon closed the connection without an answer"))
                    reply = json.loads(line)
                    if "progress" in reply:
                        if on_progress is not None:
                            on_progress(reply)
                        continue
                    if reply.get("ok"):
                        return dict(reply.get("result") or {})
                    raise DaemonError(
                        Text.from_wire(reply.get("message")) or str(reply.get("error") or "") or T("the door daemon refused the request")
                    )
            except TimeoutError as exc:
                raise DaemonUnavailable(T("the door daemon did not answer in time")) from exc
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise DaemonUnavailable(T("the door daemon sent an unreadable answer")) from exc
            except OSError as exc:
                raise DaemonUnavailable(T("connection to the door daemon failed: {reason}", reason=exc)) from exc
