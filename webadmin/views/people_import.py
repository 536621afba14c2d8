"""Import people from a CSV file (admins only; issue 13 item 7), in three steps on the people blueprint.

1. ``POST /people/import``: the upload (CSRF, WTForms ``FileField``, at most ``MAX_FILE_BYTES``) is
   checked line by line against a read-only snapshot (:func:`controller.store.people_import.check_rows`,
   the dry run): every bad line is shown with its number and nothing is sent. A good file is kept
   in memory for this session (:class:`webadmin.shown_once.ShownOnce`) and a confirm button shown.
2. ``POST /people/import/confirm``: takes the kept rows out (so a second POST imports nothing) and
   asks the daemon for the one all-or-nothing change ``user.import``; then redirects (303).
3. ``GET /people/import/done/<key>`` says how many were added and offers the PINs once as a CSV
   download (``/people/import/pins/<key>.csv``); reloading either page says "already shown" (410):
   the PINs are never shown twice and nothing is imported twice (post/redirect/get, as for one PIN).

The app's request limit is 64 KiB; only the upload step allows ``UPLOAD_LIMIT`` (set before the
CSRF check reads the form, in a URL value preprocessor that runs first).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from flask import Response, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from controller.errors import InvalidInput
from controller.i18n import T
from controller.store import eventlog, people_import
from webadmin import daemon
from webadmin.forms import sentence
from webadmin.forms.people_import import ImportConfirmForm, ImportUploadForm
from webadmin.security import ADMIN_ONLY, allow
from webadmin.shown_once import ShownOnce
from webadmin.state import read_db, state
from webadmin.views.people import _today, bp

#: Largest request of the upload step (the file plus the form around it).
UPLOAD_LIMIT = people_import.MAX_FILE_BYTES + 64 * 1024
#: Seconds the web waits for the daemon's import (it answers once every person is stored).
IMPORT_TIMEOUT_SECONDS = 150.0

#: Checked files waiting for "Confirm", finished imports' PIN files before and after the summary page.
PENDING, DONE, DOWNLOADS = ShownOnce(), ShownOnce(), ShownOnce()


@dataclass(frozen=True)
class _Pending:
    rows: list[list[Any]]
    filename: str


@dataclass(frozen=True)
class _PinFile:
    csv_text: str
    count: int
    batch: str
    first: str
    last: str


@bp.url_value_preprocessor
def _upload_limit(endpoint: str | None, values: Any) -> None:
    if endpoint == "people.import_check" and request.method == "POST":
        request.max_content_length = UPLOAD_LIMIT


def _page(step: str, status: int = 200, **extra: Any) -> Any:
    extra.setdefault("max_mib", people_import.MAX_FILE_BYTES // (1024 * 1024))
    extra.setdefault("columns", people_import.COLUMNS)
    return render_template("people/import.html", step=step, **extra), status


@bp.route("/import", methods=["GET", "POST"], endpoint="import_check")
@allow(ADMIN_ONLY)
def import_check() -> Any:
    """Upload and check a file (the dry run); a good file gets a confirm button."""
    if request.method == "GET":
        return _page("upload")
    try:
        upload = ImportUploadForm().checked().file.data
        raw = upload.read(people_import.MAX_FILE_BYTES + 1)
        if len(raw) > people_import.MAX_FILE_BYTES:
            raise InvalidInput(T("the file is too large"))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(T("the file is not UTF-8 text")) from None
    except InvalidInput as exc:
        return _page("upload", 400, error=sentence(str(exc)))
    rows, problems = people_import.parse_csv(text)
    checked, bad = people_import.check_rows(read_db(), rows, require_agreement=state().config.site.require_agreement,
                                            today=_today())
    problems = sorted(problems + bad, key=lambda p: p.line)
    if problems:
        return _page("upload", 400, problems=problems, error=_("%(n)s bad line(s); nothing was imported.", n=len(problems)))
    if not checked:
        return _page("upload", 400, error=_("The file has no people to import."))
    filename = (upload.filename or "people.csv")[:80]
    key = PENDING.put(g.account.token_hash, _Pending(rows, filename))
    return _page("confirm", count=len(checked), key=key, filename=filename)


@bp.route("/import/confirm", methods=["POST"])
@allow(ADMIN_ONLY)
def import_confirm() -> Any:
    """Run the checked import once; then 303 to the page that offers the PINs."""
    try:
        key = ImportConfirmForm().checked().key.data
    except InvalidInput as exc:
        return _page("upload", 400, error=sentence(str(exc)))
    pending = PENDING.take(g.account.token_hash, key)
    if pending is None:
        return _page("gone", 410)
    try:
        result = daemon.admin("user.import", timeout=IMPORT_TIMEOUT_SECONDS, rows=pending.rows)
    except daemon.ChangeRefused as exc:
        return _page("upload", exc.status, error=exc.message)
    names = {row[0]: row[1] for row in pending.rows}
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(("code", "name", "pin"))
    for code, line, pin in zip(result["codes"], result["lines"], result["pins"]):
        writer.writerow((code, eventlog.csv_cell(names.get(line) or ""), pin))
    codes = result["codes"]
    done = DONE.put(g.account.token_hash, _PinFile(buf.getvalue(), len(codes), str(result.get("batch")),
                                                   codes[0], codes[-1]))
    return redirect(url_for("people.import_done", key=done), code=303)


@bp.route("/import/done/<key>")
@allow(ADMIN_ONLY)
def import_done(key: str) -> Any:
    """How many were added, with a link that downloads the PINs once; a reload says "already shown"."""
    pins = DONE.take(g.account.token_hash, key[:64])
    if pins is None:
        return _page("gone", 410)
    download = DOWNLOADS.put(g.account.token_hash, pins)
    return _page("done", pins=pins, download=download)


@bp.route("/import/pins/<key>.csv")
@allow(ADMIN_ONLY)
def import_pins(key: str) -> Any:
    """The PIN file, once (``code,name,pin``; never cached)."""
    pins = DOWNLOADS.take(g.account.token_hash, key[:64])
    if pins is None:
        return _page("gone", 410)
    response = Response(pins.csv_text, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="kunci-pins-{pins.batch}.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response
