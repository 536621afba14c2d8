"""Drive Kunci as a user does: ``kunci demo`` and ``kunci ...`` commands as processes, the admin web over HTTPS.

Nothing here imports the product's internals: the demo and every command are subprocesses of the
same Python (``python -m controller``, what the ``kunci`` console script runs), the web is reached
over TLS with the demo's own certificate pinned, and everything is read back through ``kunci log
--format json`` and ``kunci audit verify``. Waits are polls with an overall deadline, never fixed
sleeps, and no test asserts a duration.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from tests import polling

KUNCI = [sys.executable, "-m", "controller"]
#: Overall deadline of one wait (seconds): generous, the test machine is a loaded 2-core box.
WAIT_SECONDS = 60.0


def wait_until(condition: Callable[[], Any], timeout: float = WAIT_SECONDS, what: str = "condition",
               interval: float = 0.1) -> Any:
    """Poll ``condition`` until it returns something truthy (returned); AssertionError after ``timeout`` s."""
    return polling.wait_for(condition, timeout, what, interval)


# ------------------------------------------------------------------------------------------ CLI


def kunci(data: Path, *argv: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``kunci ARGV --data DATA``; with ``check`` a non-zero exit fails the test with its output."""
    proc = subprocess.run([*KUNCI, *argv, "--data", str(data)], capture_output=True, text=True,
                          timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise AssertionError(f"kunci {' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def log_events(data: Path) -> list[dict[str, Any]]:
    """Every event of ``kunci log --format json`` (chain order); the export's header line is skipped."""
    out = kunci(data, "log", "--format", "json").stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [row for row in rows if "type" in row and "seq" in row]


def pin_grants(events: list[dict[str, Any]], code: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "access.granted" and e["method"] == "pin" and e["user"] == code]


USER_ADDED = re.compile(r"\b(U\d{4,})\b.*\bPIN (\d+)")


def add_person(data: Path, name: str) -> tuple[str, str]:
    """``kunci user add --name NAME --agreement-signed today``: returns the printed (code, PIN)."""
    out = kunci(data, "user", "add", "--name", name, "--agreement-signed", "today").stdout
    found = USER_ADDED.search(out)
    assert found, f"kunci user add printed no code and PIN: {out!r}"
    return found.group(1), found.group(2)


def open_fd_targets(pid: int) -> list[str]:
    """Where each open descriptor of process ``pid`` points (``/proc/PID/fd``)."""
    targets = []
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            targets.append(os.readlink(fd))
        except OSError:  # closed meanwhile
            continue
    return targets


# ------------------------------------------------------------------------------------------ demo

BANNER_END = "Ctrl-C stops the demo"
BANNER_URL = re.compile(r"Admin web\s+(https://\S+?/)\s")
BANNER_ADMIN = re.compile(r"Logins\s+demo / (\S+)")
BANNER_PERSON = re.compile(r"Person\s+(U\d+) with PIN (\d+)")
BANNER_PIDS = re.compile(r"door daemon `kunci run` \(pid (\d+)\), admin web `kunci web` \(pid (\d+)\)")


@dataclass
class Demo:
    """A running ``kunci demo --data DATA --port 0`` and what its banner said."""

    data: Path
    proc: subprocess.Popen
    output: Path
    url: str = ""
    admin_password: str = ""
    person: str = ""
    pin: str = ""
    daemon_pid: int = 0
    web_pid: int = 0

    @classmethod
    def start(cls, data: Path, output: Path, *extra: str) -> Demo:
        """Start the demo (its output goes to ``output``; ``extra``: more arguments, e.g. ``--doors 2``) and wait
        for its banner."""
        out = output.open("w")
        proc = subprocess.Popen([*KUNCI, "demo", "--data", str(data), "--port", "0", *extra], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, cwd=data.parent,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        out.close()
        demo = cls(data, proc, output)
        try:
            wait_until(lambda: BANNER_END in demo.text or proc.poll() is not None, what="the demo banner")
            assert proc.poll() is None, f"kunci demo exited {proc.returncode}:\n{demo.text}"
            text = demo.text
            url, admin, person, pids = (BANNER_URL.search(text), BANNER_ADMIN.search(text),
                                        BANNER_PERSON.search(text), BANNER_PIDS.search(text))
            assert url and admin and person and pids, f"unexpected banner:\n{text}"
        except BaseException:
            demo.kill()
            raise
        demo.url, demo.admin_password = url.group(1), admin.group(1)
        demo.person, demo.pin = person.groups()
        demo.daemon_pid, demo.web_pid = int(pids.group(1)), int(pids.group(2))
        return demo

    @property
    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def stop(self, timeout: float = WAIT_SECONDS) -> int:
        """Ctrl-C (SIGINT) and wait; returns the demo's exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        """Last resort (test clean-up): SIGKILL the demo and both children, wherever they are."""
        for pid in (self.daemon_pid, self.web_pid):
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def start_daemon(data: Path, output: Path) -> subprocess.Popen:
    """``kunci run --data DATA`` as a process (output to ``output``); returns once it answers ``status``."""
    with output.open("a") as out:
        proc = subprocess.Popen([*KUNCI, "run", "--data", str(data)], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: proc.poll() is not None or kunci(data, "status", check=False).returncode == 0,
                   what="kunci run answering kunci status")
        assert proc.poll() is None, f"kunci run exited {proc.returncode}:\n{output.read_text()}"
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc


# ------------------------------------------------------------------------------------------ web


class _Forms(HTMLParser):
    """Collects each ``<form>``: its action and the values a browser would submit as the page shows them."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._form: dict[str, Any] | None = None
        self._select: str | None = None
        self._select_first: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._form = {"action": a.get("action", ""), "method": a.get("method", "get").lower(), "fields": {}}
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input" and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self._form["fields"][a["name"]] = a.get("value", "on")
            elif kind not in ("submit", "button", "image", "reset", "file"):
                self._form["fields"][a["name"]] = a.get("value", "")
        elif tag == "select" and a.get("name"):
            self._select, self._select_first = a["name"], None
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            if self._select_first is None:
                self._select_first = value
                self._form["fields"].setdefault(self._select, value)
            if "selected" in a:
                self._form["fields"][self._select] = value
        elif tag == "textarea" and a.get("name"):
            self._textarea = a["name"]
            self._form["fields"][self._textarea] = ""

    def handle_data(self, data: str) -> None:
        if self._form is not None and self._textarea is not None:
            self._form["fields"][self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def forms_of(html: str) -> list[dict[str, Any]]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


class WebSession:
    """A browser-like HTTPS session on the admin web: cookies, redirects, forms with their CSRF token.

    :param url: the base URL from the demo banner (``https://127.0.0.1:PORT/``).
    :param cafile: the certificate to trust, and only it (``DATA/tls/cert.pem``, self-signed).
    """

    def __init__(self, url: str, cafile: Path) -> None:
        self.url = url
        context = ssl.create_default_context(cafile=str(cafile))
        context.check_hostname = False  # the certificate names the host, the demo is reached by address
        self._opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context),
                                                   urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def _open(self, path: str, body: dict[str, str] | None = None) -> tuple[int, str, str]:
        data = urllib.parse.urlencode(body).encode() if body is not None else None
        request = urllib.request.Request(urllib.parse.urljoin(self.url, path), data=data)
        try:
            with self._opener.open(request, timeout=30) as response:
                return response.status, response.geturl(), response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.geturl(), exc.read().decode("utf-8", "replace")

    def get(self, path: str) -> tuple[int, str, str]:
        """GET ``path``: ``(status, final URL after redirects, body)``."""
        return self._open(path)

    def submit(self, page: str, action_suffix: str, changes: dict[str, str]) -> tuple[int, str, str]:
        """Load ``page``, fill the form whose action ends with ``action_suffix`` with ``changes`` (every
        other field as the page shows it, the CSRF token included) and post it, following redirects."""
        status, _, html = self.get(page)
        assert status == 200, f"GET {page}: {status}\n{html[:2000]}"
        matches = [f for f in forms_of(html) if f["method"] == "post" and f["action"].endswith(action_suffix)]
        assert matches, f"no form posting to ...{action_suffix} on {page}"
        fields = {**matches[0]["fields"], **changes}
        return self._open(matches[0]["action"], fields)

    def login(self, username: str, password: str) -> None:
        status, final, html = self.submit("login", "/login", {"username": username, "password": password})
        assert status == 200 and not final.rstrip("/").endswith("/login"), \
            f"login as {username} failed: {status} {final}\n{html[:2000]}"
