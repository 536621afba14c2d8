"""Page language: Flask-Babel with the one gettext catalogue of :mod:`controller.i18n`.

The locale of a request is the logged-in staff member's own choice (``staff_language`` in
``DATA/web/web.db``, set on their account page), else the configuration's ``site.language``.
English is the source language (the msgids); ``controller/translations/id/LC_MESSAGES/messages.po``
holds Bahasa Indonesia and its compiled ``messages.mo`` is committed next to it (``make translations``
extracts, updates and compiles; ``tests/webadmin/test_i18n.py`` fails on a missing translation).
The same locale is made :mod:`controller.i18n`'s current language for the request, so an error the
door daemon raised (a :class:`~controller.i18n.Text`) reads in the login's language too.
"""

from __future__ import annotations

import logging

from flask import Flask, g
from flask_babel import Babel, get_locale

from controller.i18n import LANGUAGE_NAMES, LANGUAGES, TRANSLATIONS_DIR, set_language
from webadmin.state import state

logger = logging.getLogger(__name__)


def select_locale() -> str:
    """The request's language: the staff login's own choice if it made one, else ``site.language``."""
    account = g.get("account")
    if account is not None:
        chosen = state().web_store.language(account.username)
        if chosen in LANGUAGES:
            return chosen
    return state().config.site.language


def current_language() -> str:
    """The language code of the page being rendered (``en`` or ``id``)."""
    locale = get_locale()
    return locale.language if locale is not None else "en"


def init_app(app: Flask) -> None:
    """Install Flask-Babel (``gettext``/``_`` and ``{% trans %}`` in templates) and ``current_language``."""
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    Babel(app, locale_selector=select_locale)
    app.before_request(lambda: set_language(current_language()))
    app.add_template_global(current_language, "current_language")
    app.add_template_global(LANGUAGE_NAMES, "language_names")
