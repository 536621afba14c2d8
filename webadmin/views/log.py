"""Entry log (admins and auditors): filters, keyset pages on ``events.id``, CSV and JSON-lines export.

Filters: time range (site-local ``datetime-local`` values), person code, result,
reason, method, event type (exact or a family like ``admin.*``), door (issue 16). Pages are keyed on
the event id (``before``/``after``), so a deep page costs what the first one does.
Only whitelisted parameters are accepted; anything else is a 400.

Exports stream from a generator with their own read-only session, batch by batch,
so memory stays flat for any log size. The header (anchor, filters, unsealed events left out) and the rows
come from :mod:`controller.store.eventlog` itself; file names are made by the server only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, abort, g, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from controller.core.policy import Method, Reason
from controller.core.vocabulary import EventType, values
from controller.errors import InvalidInput
from controller.store import audit, eventlog, people_search
from controller.store.models import Door, Event
from controller.timefmt import utcnow
from webadmin import daemon
from webadmin.forms import sentence
from webadmin.forms.log import FILTER_KEYS, ORDERS, RESULTS, SEARCH_KEYS, SEARCH_MAX_LENGTH, LogFilterForm, LogPageForm
from webadmin.names import names_for
from webadmin.security import STAFF, allow
from webadmin.state import read_db, state
from webadmin.templating import site_zone
from webadmin.views.errors import render_error

logger = logging.getLogger(__name__)

bp = Blueprint("log", __name__, url_prefix="/log")

PAGE_SIZE = 50
#: Rows written per streamed chunk of an export.
EXPORT_CHUNK_ROWS = 200
#: Values offered in the filter menus (any well-formed value may be typed in the URL).
METHODS = values(Method)
#: Every denial reason (:class:`controller.core.policy.Reason` but ``granted``).
REASONS = tuple(reason.value for reason in Reason if reason is not Reason.GRANTED)
#: Every event type but the admin ones, which the filter offers as one family (``admin.*``).
TYPES = (*(t.value for t in EventType if not t.startswith("admin.")), "admin.*")
#: Most people a search of the log matches; their entries are shown, the page says when there were more.
SEARCH_PEOPLE = 50
#: A search an auditor may make: a person code or its start (``U00``); auditors never search names.
_CODE_SEARCH = re.compile(r"U\d{1,15}", re.IGNORECASE)


def _search_codes(db: Any, term: str, *, with_names: bool) -> tuple[list[str], bool]:
    """The codes of the people ``term`` finds (names and codes for admins, codes only otherwise), at most
    :data:`SEARCH_PEOPLE`, and whether more matched."""
    if with_names:
        hits = [hit.code for hit in people_search.search(db, term, limit=SEARCH_PEOPLE + 1)]
    elif _CODE_SEARCH.fullmatch(term):
        hits = [code for code, *_ in db.execute(people_search.code_prefix_query(term.upper(), SEARCH_PEOPLE + 1))]
    else:
        hits = []
    return hits[:SEARCH_PEOPLE], len(hits) > SEARCH_PEOPLE


@bp.route("")
@allow(STAFF)
def index() -> Any:
    """One page of events, newest (or oldest) first."""
    args = request.args
    events: list[Any] = []
    error = None
    has_more = False
    order = "newest"
    with_names = g.account.is_admin
    search: dict[str, Any] | None = None
    try:
        form = LogPageForm(formdata=args, tz=site_zone()).checked()
        f, order = form.event_filter(), form.order.data
        before, after = form.before.data, form.after.data
        stmt = eventlog.build_query(
            f,
            before_id=before if order == "newest" else None,
            after_id=after if order == "oldest" else None,
            newest_first=order == "newest",
        ).limit(PAGE_SIZE + 1)
        if form.q.data:
            codes, capped = _search_codes(read_db(), form.q.data, with_names=with_names)
            search = {"codes": codes, "capped": capped, "limit": SEARCH_PEOPLE, "by_code_only": not with_names}
            stmt = stmt.where(Event.user_code.in_(codes))
        events = list(read_db().scalars(stmt)) if search is None or search["codes"] else []
        has_more = len(events) > PAGE_SIZE
        events = events[:PAGE_SIZE]
    except InvalidInput as exc:
        error = sentence(str(exc))
    names = names_for(read_db(), [e.user_code for e in events] + (search["codes"] if search else []),
                      with_names=with_names)
    kept = {k: args.get(k) for k in FILTER_KEYS if args.get(k)}
    exported = dict(kept)
    kept.update({k: args.get(k) for k in SEARCH_KEYS if args.get(k)})
    next_url = None
    if has_more and events:
        key = "before" if order == "newest" else "after"
        next_url = url_for("log.index", **kept, order=order, **{key: events[-1].id})
    first_url = url_for("log.index", **kept, order=order) if (args.get("before") or args.get("after")) else None
    return (
        render_template(
            "log.html",
            events=events,
            error=error,
            values={**{k: args.get(k, "")[:64] for k in FILTER_KEYS}, "q": args.get("q", "")[:SEARCH_MAX_LENGTH]},
            names=names,
            search=search,
            order=order,
            orders=ORDERS,
            results=RESULTS,
            methods=METHODS,
            reasons=REASONS,
            types=TYPES,
            doors=list(read_db().scalars(select(Door.name).order_by(Door.id))),
            next_url=next_url,
            first_url=first_url,
            export_csv=url_for("log.export", fmt="csv", **exported),
            export_json=url_for("log.export", fmt="json", **exported),
        ),
        400 if error else 200,
    )


def _export_chunks(sessions: Any, f: eventlog.EventFilter, fmt: str) -> Iterator[str]:
    """The export in chunks from its own read session: the header (anchor, filters, unsealed events left out)
    from :mod:`controller.store.eventlog`, then every sealed event."""
    with sessions() as db:
        head = eventlog.export_head(db, f, anchor=audit.head(db))
        chunks = eventlog.csv_chunks if fmt == "csv" else eventlog.json_chunks
        yield from chunks(db, head, f, chunk_rows=EXPORT_CHUNK_ROWS)


@bp.route("/export.<any(csv, json):fmt>")
@allow(STAFF)
def export(fmt: str) -> Any:
    """Download the filtered log's sealed events, oldest first, with the chain anchor in the header (CSV: the
    last column's name; JSON: the first line) and the number of unsealed events left out."""
    try:
        f = LogFilterForm(formdata=request.args, tz=site_zone()).checked().event_filter()
    except InvalidInput as exc:
        abort(400, description=sentence(str(exc)))
    # No export without its log entry: the daemon must have logged it before any row is sent.
    if not daemon.record_event(EventType.ADMIN_LOG_EXPORTED, {"format": fmt, "filters": f.as_dict()}):
        return render_error(503, _("The door daemon is not running, so the export could not be logged; "
                                   "nothing was exported. Try again once it runs."))
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    sessions = state().read_sessions
    mimetype = "text/csv" if fmt == "csv" else "application/x-ndjson"
    response = Response(_export_chunks(sessions, f, fmt), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="kunci-events-{stamp}.{"csv" if fmt == "csv" else "jsonl"}"'
    return response
