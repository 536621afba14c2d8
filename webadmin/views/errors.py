"""Error pages: one clear sentence per status, as HTML or (for the polled endpoints) JSON."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from webadmin.security import wants_json

logger = logging.getLogger(__name__)

MESSAGES = {
    400: "The request was not valid.",
    401: "Please log in.",
    403: "Your account is not allowed to do this. The attempt was recorded.",
    404: "There is no such page.",
    405: "This page does not accept that kind of request.",
    413: "The request is too large (at most 64 KiB). Nothing was saved.",
    429: "Too many attempts. Wait a while and try again.",
    500: "Something went wrong on the server. Nothing was changed; the error was logged.",
}

TITLES = {
    400: "Bad request",
    401: "Login required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    413: "Request too large",
    429: "Too many attempts",
    500: "Server error",
}


def render_error(code: int, message: str | None = None) -> Any:
    """The error page (or JSON body) for ``code``."""
    text = message or MESSAGES.get(code, "The request failed.")
    if wants_json():
        return jsonify(ok=False, error=text), code
    return render_template("error.html", code=code, title=TITLES.get(code, "Error"), message=text), code


def init_app(app: Flask) -> None:
    """Register handlers for HTTP errors, CSRF failures and unexpected exceptions."""

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> Any:
        logger.info("CSRF check failed: %s", exc.description)
        return render_error(
            400,
            "The form was not accepted: it has expired or did not come from this site. "
            "Reload the page and try again. Nothing was changed.",
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
