"""Staff forms: login, password change, staff accounts, and the remote unlock's password."""

from __future__ import annotations

import logging
from typing import Any

from controller.store.models import ADMIN_ROLES
from controller.store.web_store import LANGUAGES
from webadmin.forms import KunciForm
from webadmin.forms.fields import Choice, Password, Raw, Text

logger = logging.getLogger(__name__)

#: Longest username the login form keeps for re-display (longer ones simply fail to log in).
LOGIN_NAME_SHOWN = 64


class LoginForm(KunciForm):
    """Username and password. Nothing is refused here: every failure is the same "login failed" (401)."""

    username = Raw("Username")
    password = Password("Password")

    def name(self) -> str:
        """The username as typed, stripped."""
        return str(self.username.data or "").strip()


class PasswordChangeForm(KunciForm):
    """One's own password change: the current password, the new one twice."""

    current_password = Password("Current password")
    new_password = Password("New password")
    confirm_password = Password("Confirm the new password")

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        if self.new_password.data != self.confirm_password.data:
            ok = self.refuse(self.confirm_password, "The new password and its confirmation differ.")
        return ok


class LanguageForm(KunciForm):
    """One's own admin page language: a code of :data:`controller.store.web_store.LANGUAGES`."""

    language = Choice("Language", LANGUAGES, required=True)


class StaffAddForm(KunciForm):
    """A new staff account (the admin's own password too); the password rules are the service's."""

    username = Text("Username", max_length=32, required=True)
    role = Choice("Role", ADMIN_ROLES, required=True)
    password = Password("Password")
    confirm_password = Password("Confirm the password")
    current_password = Password("Your own password")

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        if self.password.data != self.confirm_password.data:
            ok = self.refuse(self.confirm_password, "The password and its confirmation differ.")
        return ok


class StaffRoleForm(KunciForm):
    """A new role for an account (the admin's own password too)."""

    role = Choice("Role", ADMIN_ROLES, required=True)
    current_password = Password("Your own password")


class UnlockForm(KunciForm):
    """The dashboard's remote unlock: the admin's password again."""

    password = Password("Your password")
