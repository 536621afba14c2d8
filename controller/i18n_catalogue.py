"""Maintain the Indonesian catalogue: ``python -m controller.i18n_catalogue update|fill FILE.json|missing``.

- ``update`` (what ``make translations`` runs): extract every marked message (``babel.cfg``: the admin
  page's templates and Python, the controller's ``_``/``T`` messages) into ``messages.pot``, merge it into
  ``id/LC_MESSAGES/messages.po`` (no fuzzy guesses: a new message stays empty until translated), compile
  ``messages.mo``.
- ``fill FILE.json``: ``update``, then take translations from a JSON object ``{"English msgid":
  "Indonesian"}`` for the messages now in the catalogue, and compile again.
- ``missing``: ``update``, then list the msgids without a translation (exit 1 if any).

Each run holds an exclusive lock on the catalogue, so several people (or processes) can run it at once.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from controller.i18n import TRANSLATIONS_DIR

ROOT = TRANSLATIONS_DIR.parents[1]
POT = TRANSLATIONS_DIR / "messages.pot"
PO = TRANSLATIONS_DIR / "id" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
#: The marking functions besides Babel's defaults (``_``, ``gettext``, ``ngettext``, ``N_`` ...):
#: ``setting(default, doc, ...)`` in controller/config/schema.py marks each setting's explanation (argument 2).
KEYWORDS = ("lazy_gettext", "T", "setting:2")


@contextmanager
def _locked() -> Iterator[None]:
    with open(TRANSLATIONS_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _pybabel(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "-q", *args], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)


def _update() -> None:
    keywords = [arg for k in KEYWORDS for arg in ("-k", k)]
    _pybabel("extract", "-F", "babel.cfg", *keywords, "--project=Kunci", "--no-wrap", "--omit-header",
             "-o", str(POT), ".")
    _pybabel("update", "-i", str(POT), "-d", str(TRANSLATIONS_DIR), "-l", "id", "--no-wrap",
             "--no-fuzzy-matching", "--ignore-obsolete")


def _compile(catalog: object | None = None) -> None:
    if catalog is None:
        with open(PO, "rb") as f:
            catalog = read_po(f, locale="id")
    with open(MO, "wb") as f:
        write_mo(f, catalog)


def _fill(translations: dict[str, str]) -> list[str]:
    with open(PO, "rb") as f:
        catalog = read_po(f, locale="id")
    used = []
    for message in catalog:
        if message.id and isinstance(message.id, str) and message.id in translations:
            message.string = translations[message.id]
            message.flags.discard("fuzzy")
            used.append(message.id)
    with open(PO, "wb") as f:
        write_po(f, catalog, width=0, omit_header=False)
    _compile(catalog)
    return used


def _missing() -> list[str]:
    with open(PO, "rb") as f:
        catalog = read_po(f, locale="id")
    return [str(m.id) for m in catalog if m.id and (not m.string or m.fuzzy)]


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"update", "fill", "missing"}:
        print(__doc__, file=sys.stderr)
        return 2
    with _locked():
        _update()
        if argv[0] == "fill":
            translations = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
            used = _fill(translations)
            unused = sorted(set(translations) - set(used))
            print(f"filled {len(used)} messages" + (f"; not in the source (yet): {unused}" if unused else ""))
        else:
            _compile()
        missing = _missing()
    if argv[0] == "missing" or missing:
        print(f"{len(missing)} messages without a translation" + "".join(f"\n  {m!r}" for m in missing))
    return 1 if argv[0] == "missing" and missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
