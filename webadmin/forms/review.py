"""Access-review forms: the sign-off note (the suspension button has no fields)."""

from __future__ import annotations

from flask_babel import lazy_gettext

from webadmin.forms import KunciForm
from webadmin.forms.fields import Text

#: Longest sign-off note (as controller.store.admin_ops.REVIEW_NOTE_MAX_LENGTH, which the daemon enforces).
NOTE_MAX_LENGTH = 500


class SignOffForm(KunciForm):
    """What the reviewer checked and decided."""

    note = Text(lazy_gettext("Note"), max_length=NOTE_MAX_LENGTH, required=True)
