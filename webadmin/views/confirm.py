"""Confirmation pages for changes that cannot be undone (issue 15 item 5), without JavaScript.

A destructive action's button is a link to a GET page that says what the change would do and offers
one button that posts it with ``confirm=yes``; the POST view changes nothing without ``confirm`` and
sends the browser back (303) to that page. The server enforces it, so an old form, a replayed request
or a mis-click on a list never deletes anything by itself.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template
from flask_babel import gettext as _


def confirm_page(title: str, consequences: list[str], *, action: str, button: str, back: str,
                 fields: dict[str, str] | None = None, blocked: str | None = None) -> str:
    """The page: ``title``, each consequence as a sentence, and a button labelled ``button`` that posts the
    hidden ``fields`` and ``confirm`` to ``action``; no button when ``blocked`` says why it cannot be done."""
    return render_template("confirm.html", title=title, consequences=consequences, action=action,
                           fields=fields or {}, button=button, back=back, blocked=blocked)


def unconfirmed(page: str, message: Any = None) -> Any:
    """The answer to a destructive POST without ``confirm``: nothing changed; 303 to its confirmation ``page``
    (``message``: default "Nothing was changed: confirm on this page first.", in the page's language)."""
    flash(str(message) if message is not None else _("Nothing was changed: confirm on this page first."), "error")
    return redirect(page, code=303)
