"""``kunci web --port-file`` and ``kunci demo``'s two child processes, as real processes.

The demo learns the port ``kunci web --port 0`` bound from the port file, and forwards a stop to both
children; a second Ctrl-C while they stop must not hang anything (a signal handler that takes a lock
deadlocks on a second signal). Waits are polls with a deadline.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path

from tests.controller.daemon_harness import prepare_datadir, wait_for

KUNCI = [sys.executable, "-m", "controller"]


def tls_handshake(port: int, cafile: Path) -> bool:
    """True when 127.0.0.1:``port`` completes a TLS handshake with the certificate ``cafile``."""
    context = ssl.create_default_context(cafile=str(cafile))
    context.check_hostname = False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with context.wrap_socket(raw):
                return True
    except OSError:
        return False


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_kunci_web_writes_its_bound_port_and_stops_cleanly_on_two_signals(tmp_path: Path) -> None:
    datadir = prepare_datadir(tmp_path / "data")
    port_file = datadir.run_dir / "web.port"
    proc = subprocess.Popen([*KUNCI, "web", "--data", str(datadir.root), "--port", "0", "--port-file",
                             str(port_file)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: port_file.exists() or proc.poll() is not None, timeout=60, what="the port file")
        assert proc.poll() is None
        port = int(port_file.read_text())
        assert port > 0 and tls_handshake(port, datadir.tls_cert_file)
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert f"https://127.0.0.1:{port}/" in out and "Kunci admin page stopped." in out
    assert not port_file.exists()  # a stale port would send the next demo to a dead port


def test_kunci_demo_runs_two_children_and_stops_both_on_a_double_ctrl_c(tmp_path: Path) -> None:
    data = tmp_path / "kunci-demo"
    out_file = tmp_path / "demo.out"
    with out_file.open("w") as out:
        proc = subprocess.Popen([*KUNCI, "demo", "--data", str(data), "--port", "0"], stdout=out,
                                stderr=subprocess.STDOUT, cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_for(lambda: "Ctrl-C stops the demo" in out_file.read_text() or proc.poll() is not None, timeout=90,
                 what="the demo banner")
        text = out_file.read_text()
        assert proc.poll() is None, text
        pids = re.search(r"door daemon `kunci run` \(pid (\d+)\), admin web `kunci web` \(pid (\d+)\)", text)
        url = re.search(r"https://127\.0\.0\.1:(\d+)/", text)
        assert pids and url, text
        daemon_pid, web_pid = int(pids.group(1)), int(pids.group(2))
        assert daemon_pid != proc.pid != web_pid  # two separate processes, as installed
        assert tls_handshake(int(url.group(1)), data / "tls" / "cert.pem")  # the banner's port is the real one
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, out_file.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = out_file.read_text()
    assert not alive(daemon_pid) and not alive(web_pid)
    assert "kunci demo stopped; relay off" in text and "Traceback" not in text, text


def test_kunci_demo_stops_the_daemon_and_says_so_when_the_web_cannot_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([*KUNCI, "demo", "--data", str(tmp_path / "kunci-demo"), "--port", str(port)],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "the admin web stopped unexpectedly (exit code 2); stopping the door daemon" in proc.stderr
    assert "kunci daemon stopped; relay off" in proc.stderr and "Traceback" not in proc.stderr
    assert "kunci demo stopped; relay off" in proc.stdout and "Admin web" not in proc.stdout
