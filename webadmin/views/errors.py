"""Error pages: one clear sentence per status, as HTML or (for the polled endpoints) JSON."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template
from flask_babel import gettext, lazy_gettext
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from webadmin.security import wants_json

logger = logging.getLogger(__name__)

MESSAGES = {
    400: lazy_gettext("The request was not valid."),
    401: lazy_gettext("Please log in."),
    403: lazy_gettext("Your account is not allowed to do this. The attempt was recorded."),
    404: lazy_gettext("There is no such page."),
    405: lazy_gettext("This page does not accept that kind of request."),
    413: lazy_gettext("The request is too large (at most 64 KiB). Nothing was saved."),
    429: lazy_gettext("Too many attempts. Wait a while and try again."),
    500: lazy_gettext("Something went wrong on the server. Nothing was changed; the error was logged."),
}

TITLES = {
    400: lazy_gettext("Bad request"),
    401: lazy_gettext("Login required"),
    403: lazy_gettext("Not allowed"),
    404: lazy_gettext("Not found"),
    405: lazy_gettext("Method not allowed"),
    413: lazy_gettext("Request too large"),
    429: lazy_gettext("Too many attempts"),
    500: lazy_gettext("Server error"),
}


def render_error(code: int, message: str | None = None) -> Any:
    """The error page (or JSON body) for ``code``."""
    text = str(message or MESSAGES.get(code) or gettext("The request failed."))
    if wants_json():
        return jsonify(ok=False, error=text), code
    return render_template("error.html", code=code, title=str(TITLES.get(code) or gettext("Error")), message=text), code


def init_app(app: Flask) -> None:
    """Register handlers for HTTP errors, CSRF failures and unexpected exceptions."""

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> Any:
        logger.info("CSRF check failed: %s", exc.description)
        return render_error(
            400,
            gettext("The form was not accepted: it has expired or did not come from this site. "
                    "Reload the page and try again. Nothing was changed."),
        )

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        code = exc.code or 500
        # A description given with abort(400, description=...) is ours and meant for a person;
        # Werkzeug's class default is not.
        custom = exc.description if code == 400 and exc.description != type(exc).description else None
        return render_error(code, custom)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        logger.exception("unhandled error in the admin web")
        return render_error(500)
