"""The access review (admins and auditors view; only admins sign off or apply suspensions).

The three lists come from :mod:`controller.store.review` on the web's read-only session (a credential's
last use is read from the sealed entry log). A sign-off is the daemon's ``review.sign_off`` operation
with the counts this page showed and the note; suspensions are ``review.apply_suspensions``, which
the daemon checks again person by person. Post/redirect/get; CSRF by the app's ``CSRFProtect``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _

from controller.errors import InvalidInput
from controller.store import review as access_review
from webadmin import daemon
from webadmin.forms import sentence
from webadmin.forms.review import NOTE_MAX_LENGTH, SignOffForm
from webadmin.security import ADMIN_ONLY, STAFF, allow
from webadmin.state import read_db, state

logger = logging.getLogger(__name__)

bp = Blueprint("review", __name__, url_prefix="/review")


def _review() -> access_review.Review:
    config = state().config
    tz = ZoneInfo(config.site.timezone)
    return access_review.build(access_review.usage(read_db()), config.review, datetime.now(tz).date(), tz,
                               with_names=g.account.is_admin)


def _page(error: str | None = None, status: int = 200) -> Any:
    return (
        render_template("review.html", review=_review(), last=access_review.last_sign_off(read_db()), error=error,
                        note_max=NOTE_MAX_LENGTH),
        status,
    )


@bp.route("")
@allow(STAFF)
def index() -> Any:
    """The three lists, the last sign-off and (admins) the sign-off form."""
    return _page()


@bp.route("/sign-off", methods=["POST"])
@allow(ADMIN_ONLY)
def sign_off() -> Any:
    """Record the review as done, with the counts shown now and the note."""
    try:
        note = SignOffForm().checked().note.data
        daemon.admin("review.sign_off", note=note, counts=_review().counts())
    except InvalidInput as exc:
        return _page(sentence(str(exc)), 400)
    except daemon.ChangeRefused as exc:
        return _page(exc.message, exc.status)
    flash(_("Access review signed off."), "ok")
    return redirect(url_for("review.index"), code=303)


@bp.route("/suspend-dormant", methods=["POST"])
@allow(ADMIN_ONLY)
def suspend_dormant() -> Any:
    """Suspend everyone whose every credential is dormant past review.auto_suspend_dormant_days."""
    if state().config.review.auto_suspend_dormant_days <= 0:
        return _page(_("Automatic suspension is off (review.auto_suspend_dormant_days is 0)."), 400)
    try:
        result = daemon.admin("review.apply_suspensions", users=_review().suspension_candidates)
    except daemon.ChangeRefused as exc:
        return _page(exc.message, exc.status)
    flash(_("Suspended: %(people)s.", people=", ".join(result["suspended"]) or _("nobody")), "ok")
    return redirect(url_for("review.index"), code=303)
