"""Staff forms: login, password change, staff accounts, and the remote unlock's password."""

from __future__ import annotations

import logging
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext

from controller.store.models import ADMIN_ROLES
from controller.store.web_store import LANGUAGES
from webadmin.forms import KunciForm
from webadmin.forms.fields import Choice, Password, Raw, Text, Token

logger = logging.getLogger(__name__)

#: Longest username the login form keeps for re-display (longer ones simply fail to log in).
LOGIN_NAME_SHOWN = 64


class LoginForm(KunciForm):
    """Username and password. Nothing is refused here: every failure is the same "login failed" (401)."""

    username = Raw(lazy_gettext("Username"))
    password = Password(lazy_gettext("Password"))

    def name(self) -> str:
        """The username as typed, stripped."""
        return str(self.username.data or "").strip()


class PasswordChangeForm(KunciForm):
    """One's own password change: the current password, the new one twice."""

    current_password = Password(lazy_gettext("Current password"))
    new_password = Password(lazy_gettext("New password"))
    confirm_password = Password(lazy_gettext("Confirm the new password"))

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        if self.new_password.data != self.confirm_password.data:
            ok = self.refuse(self.confirm_password, _("The new password and its confirmation differ."))
        return ok


class LanguageForm(KunciForm):
    """One's own admin page language: a code of :data:`controller.store.web_store.LANGUAGES`."""

    language = Choice(lazy_gettext("Language"), LANGUAGES, required=True)


class StaffAddForm(KunciForm):
    """A new staff account (the admin's own password too); the password rules are the service's."""

    username = Text(lazy_gettext("Username"), max_length=32, required=True)
    role = Choice(lazy_gettext("Role"), ADMIN_ROLES, required=True)
    password = Password(lazy_gettext("Password"))
    confirm_password = Password(lazy_gettext("Confirm the password"))
    current_password = Password(lazy_gettext("Your own password"))

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        if self.password.data != self.confirm_password.data:
            ok = self.refuse(self.confirm_password, _("The password and its confirmation differ."))
        return ok


class StaffRoleForm(KunciForm):
    """A new role for an account (the admin's own password too)."""

    role = Choice(lazy_gettext("Role"), ADMIN_ROLES, required=True)
    current_password = Password(lazy_gettext("Your own password"))


class UnlockForm(KunciForm):
    """The dashboard's remote unlock: the admin's password again (and, with several doors, which door)."""

    password = Password(lazy_gettext("Your password"))
    door = Token(lazy_gettext("Door"))
