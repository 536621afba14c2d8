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

import argparse
import fcntl
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from controller.i18n import TRANSLATIONS_DIR

log = logging.getLogger(__name__)

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
    """The maintainer's command (``make translations``); its report goes to the log (stderr), as elsewhere
    outside the ``kunci`` CLI."""
    parser = argparse.ArgumentParser(prog="python -m controller.i18n_catalogue", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("update", "fill", "missing"))
    parser.add_argument("translations", nargs="?", type=Path, help="fill: the JSON file of translations")
    args = parser.parse_args(argv)
    if args.action == "fill" and args.translations is None:
        parser.error("fill needs the JSON file of translations")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with _locked():
        _update()
        if args.action == "fill":
            translations = json.loads(args.translations.read_text(encoding="utf-8"))
            used = _fill(translations)
            log.info("filled %d messages", len(used))
            unused = sorted(set(translations) - set(used))
            if unused:
                log.warning("not in the source (yet): %s", unused)
        else:
            _compile()
        missing = _missing()
    if args.action == "missing" or missing:
        log.warning("%d messages without a translation%s", len(missing), "".join(f"\n  {m!r}" for m in missing))
    return 1 if args.action == "missing" and missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
