"""Messages in the reader's language: Bahasa Indonesia or English, from one gettext catalogue.

English is the source language (the msgids). The catalogue ``controller/translations/id/LC_MESSAGES/
messages.po`` (compiled ``messages.mo`` committed next to it) serves both the admin page (Flask-Babel)
and the command line (the standard library's :mod:`gettext`, no Babel import at start-up).

Two ways to mark a message:

- ``_("Saved.")`` translates now, into the current language: for what a process prints itself.
- ``T("no person {code}", code=code)`` is a :class:`Text`: the msgid and its values, translated only when
  it is shown (``str()``). Errors carry a :class:`Text`, so a refusal raised in the door daemon crosses the
  control socket as msgid + values (:meth:`Text.wire`) and is shown in the language of whoever reads it:
  the CLI's, or the admin page's login.

The current language is a context variable: the CLI sets it once (``KUNCI_LANG``, else ``[site] language``),
the admin page for each request (the login's choice). Log lines for operators stay English.
"""

from __future__ import annotations

import gettext
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

#: The languages Kunci speaks (``[site] language``, a login's choice, ``KUNCI_LANG``).
LANGUAGES = ("en", "id")

#: The gettext catalogues (one directory per locale).
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"

#: Each language's name in itself.
LANGUAGE_NAMES = {"en": "English", "id": "Bahasa Indonesia"}

_language: ContextVar[str] = ContextVar("kunci_language", default="en")


def set_language(code: str) -> None:
    """Make ``code`` the current language of this thread/context (unknown codes mean English)."""
    _language.set(code if code in LANGUAGES else "en")


def language() -> str:
    """The current language code."""
    return _language.get()


@cache
def _catalogue(code: str) -> gettext.NullTranslations:
    if code == "en":
        return gettext.NullTranslations()
    return gettext.translation("messages", localedir=TRANSLATIONS_DIR, languages=[code], fallback=True)


def translate(msgid: str, code: str | None = None) -> str:
    """``msgid`` in ``code`` (default: the current language); the msgid itself when untranslated."""
    return _catalogue(code or language()).gettext(msgid)


def _(msgid: str) -> str:
    """``msgid`` translated into the current language now."""
    return translate(msgid)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for ``n``, translated into the current language."""
    return _catalogue(language()).ngettext(singular, plural, n)


class Text:
    """A message to translate when shown: ``T("no person {code}", code="U0042")``.

    ``str()`` gives it in the current language; :meth:`english` in English (log lines). Values are kept
    as text, so the message crosses a socket as JSON (:meth:`wire`, :meth:`from_wire`).
    """

    __slots__ = ("msgid", "params")

    def __init__(self, msgid: str, **params: Any) -> None:
        self.msgid = msgid
        self.params = {key: str(value) for key, value in params.items()}

    def render(self, code: str | None = None) -> str:
        text = translate(self.msgid, code)
        try:
            return text.format(**self.params) if self.params else text
        except (KeyError, IndexError, ValueError):  # a broken translation must never hide the message
            return self.msgid.format(**self.params) if self.params else self.msgid

    def english(self) -> str:
        return self.render("en")

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"Text({self.english()!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Text):
            return (self.msgid, self.params) == (other.msgid, other.params)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.msgid, tuple(sorted(self.params.items()))))

    def wire(self) -> dict[str, Any]:
        """The JSON form: ``{"msgid": ..., "params": {...}}``."""
        return {"msgid": self.msgid, "params": dict(self.params)}

    @classmethod
    def from_wire(cls, obj: Any) -> Text | None:
        """The :class:`Text` of :meth:`wire`'s JSON, or None when ``obj`` is not one."""
        if not isinstance(obj, dict) or not isinstance(obj.get("msgid"), str):
            return None
        params = obj.get("params") if isinstance(obj.get("params"), dict) else {}
        return cls(obj["msgid"], **{str(k): v for k, v in params.items()})


T = Text
