"""The admin web's forms: one Flask-WTF form class per form, with one clear message per problem.

A view builds its form from ``request.form`` (or ``request.args`` for a filter) and calls
:meth:`KunciForm.checked`, which raises :class:`FormError` with every field's message when
anything is wrong; the view then re-renders the page with the message (status 400) and sends
nothing to the daemon. CSRF is not checked here: ``CSRFProtect`` refuses every POST without
a valid token before any view runs (``webadmin.security``).

Modules: :mod:`.fields` (the value parsers), :mod:`.people`, :mod:`.access` (groups,
schedules, holidays), :mod:`.accounts` (login, passwords, staff, remote unlock), :mod:`.log`.
"""

from __future__ import annotations

import logging
from typing import Any, Self

from flask_babel import gettext as _
from flask_wtf import FlaskForm

from controller.errors import InvalidInput
from webadmin.forms.fields import USER_CODE

logger = logging.getLogger(__name__)

__all__ = ["USER_CODE", "FormError", "KunciForm", "sentence"]


class FormError(InvalidInput):
    """A form value is not acceptable; ``field`` names the first bad field, the message is for a person."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class KunciForm(FlaskForm):
    """Base of every admin-web form: no per-form CSRF field (the app's ``CSRFProtect`` checks it)."""

    class Meta:
        csrf = False

    def problems(self) -> list[tuple[str, str]]:
        """``(field name, message)`` for every error of the last validation, in form order."""
        return [(field.name, str(message)) for field in self for message in field.errors]

    def checked(self) -> Self:
        """This form if it validates; else :class:`FormError` with every message (first field named)."""
        if not self.validate():
            found = self.problems() or [("", _("The form was not valid."))]
            raise FormError(found[0][0], " ".join(message for _, message in found))
        return self

    def refuse(self, field: Any, message: str) -> bool:
        """Add ``message`` to ``field``'s errors (a check across fields); returns ``False`` for ``validate``."""
        field.errors = [*field.errors, message]
        return False


def sentence(text: str) -> str:
    """``text`` with a capital first letter and a full stop (service messages are lower-case clauses)."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
