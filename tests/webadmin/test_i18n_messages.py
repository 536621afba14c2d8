"""The admin web's own messages in the login's language: form errors, flash messages, and a refusal of the door
daemon that crossed the control socket as msgid + values (``controller.i18n.Text``)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask_babel import force_locale, gettext
from web_support import ADMIN, FakeDaemon, get, post

from controller.control.client import DaemonError
from controller.core.door_state import DoorState
from controller.errors import DaemonUnavailable
from controller.i18n import T, set_language
from webadmin import daemon as web_daemon
from webadmin import labels
from webadmin.enrol import EnrolJobs


def _indonesian(client: Any) -> None:
    assert post(client, "/account/language", {"language": "id"}).status_code == 303


def _flashes(client: Any, path: str) -> str:
    return get(client, path).get_data(as_text=True)


def test_a_bad_form_answers_in_the_logins_language(admin: Any) -> None:
    english = post(admin, "/groups/new", {"name": "", "schedule": ""})
    assert english.status_code == 400 and "Group name is required." in english.get_data(as_text=True)

    _indonesian(admin)
    reply = post(admin, "/groups/new", {"name": "", "schedule": ""})
    body = reply.get_data(as_text=True)
    assert reply.status_code == 400
    assert "Nama grup wajib diisi." in body and "is required" not in body
    bad_day = post(admin, "/holidays/new", {"day": "31-03-2026", "name": "Nyepi"}).get_data(as_text=True)
    assert "Tanggal harus berupa tanggal seperti 2026-03-31." in bad_day
    schedule = post(admin, "/schedules/new", {"name": "Pagi", "start_0_0": "9", "end_0_0": "08:00"})
    text = schedule.get_data(as_text=True)
    assert schedule.status_code == 400 and "Senin mulai harus berupa waktu seperti 08:30." in text


def test_flash_messages_read_in_indonesian(admin: Any, auditor: Any) -> None:
    _indonesian(admin)
    assert post(admin, f"/staff/{ADMIN}/role", {"role": "auditor", "current_password": "x"}).status_code == 303
    page = _flashes(admin, "/staff")
    assert "Anda tidak dapat mengubah peran Anda sendiri; mintalah admin lain." in page
    assert "You cannot change your own role" not in page

    assert post(admin, "/holidays/new", {"day": "2026-03-19", "name": "Nyepi"}).status_code == 303
    assert "Hari libur ditambahkan." in _flashes(admin, "/holidays")


class _RefusingDaemon:
    """A control socket that refuses every request the way the door daemon does: the English ``error`` and the
    translatable ``message`` (msgid + values)."""

    def __init__(self, path: Path, message: Any) -> None:
        self.reply = {"ok": False, "error": message.english(), "message": message.wire()}
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(path))
        self._sock.listen(8)
        self.path = path
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                conn.makefile("rb").readline()
                conn.sendall(json.dumps(self.reply).encode() + b"\n")

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self.path.unlink(missing_ok=True)


@pytest.fixture
def refusing(daemon: FakeDaemon, admin: Any) -> Iterator[Any]:
    """The logged-in admin, with the fake daemon replaced by one that refuses with ``no alarm #7``."""
    daemon.close()
    server = _RefusingDaemon(daemon.path, T("no alarm #{id}", id=7))
    yield admin
    server.close()


def test_a_daemon_refusal_shows_in_the_logins_language(refusing: Any) -> None:
    admin = refusing
    assert post(admin, "/alarms/7/ack", {"note": ""}).status_code == 303
    assert "The door daemon refused: no alarm #7" in _flashes(admin, "/")

    _indonesian(admin)
    assert post(admin, "/alarms/7/ack", {"note": ""}).status_code == 303
    page = _flashes(admin, "/")
    assert "Daemon pintu menolak: tidak ada alarm #7" in page and "no alarm #7" not in page

    refused = post(admin, "/groups/new", {"name": "Malam", "schedule": ""})
    assert refused.status_code == 400 and "Tidak ada alarm #7." in refused.get_data(as_text=True)


class _Client:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def call(self, *_args: Any, **_kwargs: Any) -> Any:
        raise self.exc

    def stream(self, *_args: Any, **_kwargs: Any) -> Any:
        raise self.exc


class _State:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def client(self, *_args: Any) -> _Client:
        return _Client(self.exc)


@pytest.mark.parametrize(("language", "reason", "refused", "unreachable"), [
    ("id", "tidak ada personel dengan kode U0042", "Daemon pintu menolak: ",
     "Daemon pintu tidak dapat dihubungi, sehingga status langsung dan tindakan pintu tidak tersedia."),
    ("en", "no person with code U0042", "The door daemon refused: ",
     "The door daemon is not reachable, so live status and door actions are unavailable."),
])
def test_daemon_errors_carrying_a_text_read_in_the_current_language(app: Any, monkeypatch: pytest.MonkeyPatch,
                                                                    language: str, reason: str, refused: str,
                                                                    unreachable: str) -> None:
    """webadmin/daemon.py shows a :class:`DaemonError` carrying a ``Text`` in the request's language."""
    error = DaemonError(T("no person with code {code}", code="U0042"))
    with app.test_request_context(), force_locale(language):
        set_language(language)
        try:
            monkeypatch.setattr(web_daemon, "state", lambda: _State(error))
            with pytest.raises(web_daemon.DaemonProblem) as problem:
                web_daemon.call("user.show", user="U0042")
            assert problem.value.message == refused + reason and not problem.value.unreachable
            monkeypatch.setattr(web_daemon, "end_read", lambda: None)
            monkeypatch.setattr(web_daemon, "staff_identity", dict)
            with pytest.raises(web_daemon.ChangeRefused) as change:
                web_daemon.admin("user.update", user="U0042")
            assert change.value.message == reason[0].upper() + reason[1:] + "." and change.value.status == 400
            timeout = DaemonUnavailable(T("the door daemon did not answer in time"))
            monkeypatch.setattr(web_daemon, "state", lambda: _State(timeout))
            with pytest.raises(web_daemon.DaemonProblem) as gone:
                web_daemon.call("status")
            assert gone.value.unreachable and gone.value.message.startswith(unreachable)
        finally:
            set_language("en")


def test_an_enrolment_reads_in_the_language_of_whoever_polls_it(app: Any) -> None:
    """The enrolment thread stores its words untranslated; each poll shows them in the poller's language."""
    failing = DaemonError(T("no person with code {code}", code="U0042"))
    jobs = EnrolJobs(lambda _timeout: _Client(failing), line_wait_seconds=1.0)
    job = jobs.start("U0042", actor=ADMIN)
    for _ in range(200):
        snapshot = jobs.snapshot(job)
        if snapshot and snapshot["done"]:
            break
        threading.Event().wait(0.01)
    with app.test_request_context():
        try:
            set_language("id")
            assert jobs.snapshot(job)["error"] == "tidak ada personel dengan kode U0042"
        finally:
            set_language("en")
        assert jobs.snapshot(job)["error"] == "no person with code U0042"


def test_confirmation_pages_settings_and_explanations_in_indonesian(admin: Any) -> None:
    assert post(admin, "/holidays/new", {"day": "2026-03-19", "name": "Nyepi"}).status_code == 303
    _indonesian(admin)
    confirm = get(admin, "/holidays/delete?day=2026-03-19").get_data(as_text=True)
    assert "Hapus hari libur pada 2026-03-19?" in confirm and "Tindakan ini menghapus hari libur" in confirm
    settings = get(admin, "/settings").get_data(as_text=True)
    assert "Lama buka kunci (detik)" in settings and "Unlock seconds" not in settings
    for page in (confirm, settings):
        assert "%(" not in page


def test_every_label_has_an_explanation_in_both_languages(app: Any) -> None:
    with app.test_request_context(), force_locale("id"):
        for vocabulary, words in labels.LABELS.items():
            for value in words:
                assert labels.label(value, vocabulary) and labels.explain(value, vocabulary), value
                translated = labels.explain(value, vocabulary, gettext=gettext)
                assert translated and translated != labels.explain(value, vocabulary), value
        assert labels.label("ok", labels.SensorState, gettext=gettext) == "Daring"
        assert labels.label("locked", DoorState, gettext=gettext) == "Terkunci"
