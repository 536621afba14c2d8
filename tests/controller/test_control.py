"""Control socket: request/response, progress lines, errors, hostile clients."""

from __future__ import annotations

import os
import pwd
import socket
import stat

import pytest

from controller.control.client import ControlClient, DaemonError
from controller.control.server import ControlServer
from controller.errors import DaemonUnavailable, DataDirError, InvalidInput


def handler(request, progress, peer):
    cmd = request["cmd"]
    if cmd == "echo":
        return {"echo": request.get("value")}
    if cmd == "whoami":
        return {"pid": peer.pid, "uid": peer.uid, "gid": peer.gid, "account": peer.account}
    if cmd == "steps":
        for step in ("place_finger", "lift_finger", "place_again"):
            progress(step, step.replace("_", " "))
        return {"slot": 7}
    if cmd == "refuse":
        raise InvalidInput("no such person U9999")
    raise RuntimeError("boom")


@pytest.fixture
def server(tmp_path):
    srv = ControlServer(tmp_path / "run" / "control.sock", handler)
    srv.start()
    yield srv
    srv.close()


def test_the_kernel_names_the_peer_whatever_the_request_says(server):
    answer = ControlClient(server.socket_path).call("whoami", uid=0, actor="alice")
    assert (answer["pid"], answer["uid"], answer["gid"]) == (os.getpid(), os.getuid(), os.getgid())
    assert answer["account"] == pwd.getpwuid(os.getuid()).pw_name


def test_call_returns_result_and_socket_is_0660(server):
    assert ControlClient(server.socket_path).call("echo", value="hi") == {"echo": "hi"}
    assert stat.S_IMODE(server.socket_path.stat().st_mode) == 0o660


def test_progress_lines_reach_the_callback_in_order(server):
    seen = []
    result = ControlClient(server.socket_path).stream("steps", lambda p: seen.append(p["progress"]))
    assert seen == ["place_finger", "lift_finger", "place_again"]
    assert result == {"slot": 7}


def test_refusal_is_one_line_for_a_person(server):
    with pytest.raises(DaemonError, match="no such person U9999"):
        ControlClient(server.socket_path).call("refuse")


def test_unexpected_exception_is_reported_and_server_survives(server):
    with pytest.raises(DaemonError, match="internal error"):
        ControlClient(server.socket_path).call("crash")
    assert ControlClient(server.socket_path).call("echo", value=1) == {"echo": 1}


@pytest.mark.parametrize("payload", [b"not json\n", b"[1,2]\n", b'{"cmd": 5}\n', b"\xff\xfe\n", b"x" * 70000])
def test_garbage_requests_get_an_error_and_server_survives(server, payload):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(str(server.socket_path))
        try:
            s.sendall(payload)
            reply = s.makefile("rb").readline()
        except OSError:
            reply = b""
    assert reply == b"" or b'"ok":false' in reply
    assert ControlClient(server.socket_path).call("echo", value=2) == {"echo": 2}


def test_no_daemon_is_a_clear_error(tmp_path):
    with pytest.raises(DaemonUnavailable, match="not running"):
        ControlClient(tmp_path / "nope.sock").call("status")


def test_a_socket_path_too_long_for_unix_is_refused_by_name_before_anything_is_made(tmp_path):
    deep = tmp_path / ("d" * 120) / "run"
    srv = ControlServer(deep / "control.sock", handler)
    with pytest.raises(DataDirError, match="shorter path"):
        srv.start()
    assert not deep.exists()
