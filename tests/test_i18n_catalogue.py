"""One Indonesian catalogue for the admin page and the CLI: complete, compiled, and nothing left unmarked.

- every marked message (``babel.cfg``, as ``make translations`` extracts) has a checked translation;
- the committed ``messages.mo`` is what ``messages.po`` says;
- no template holds words outside ``{{ _(...) }}`` / ``{% trans %}`` (text and the attributes a person
  reads: ``title``, ``placeholder``, ``aria-label``, ``alt``);
- no Python error meant for a person (a :class:`KunciError` or driver error) and no CLI ``print`` is
  written as a bare English string: they go through ``T(...)`` or ``_(...)``.
"""

from __future__ import annotations

import ast
import re
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

import controller.errors
import drivers.errors
from controller.i18n import TRANSLATIONS_DIR, T, Text, set_language, translate
from controller.i18n_catalogue import KEYWORDS

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = TRANSLATIONS_DIR / "id" / "LC_MESSAGES"
TEMPLATES = ROOT / "webadmin" / "templates"


def _po() -> Any:
    with open(CATALOGUE / "messages.po", "rb") as f:
        return read_po(f, locale="id")


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, (list, tuple)) else value


def _translations(catalog: Any) -> dict[Any, Any]:
    """msgid -> msgstr of a catalogue (a read .po or .mo); plural entries as tuples."""
    items = catalog.items() if isinstance(catalog, dict) else ((m.id, m.string) for m in catalog)
    return {_hashable(k): _hashable(v) for k, v in items if k}


def _in_source() -> set[Any]:
    with open(ROOT / "babel.cfg") as f:
        method_map, options_map = parse_mapping_cfg(f)
    keywords: dict[str, Any] = {"_": None, "gettext": None, "N_": None, "ngettext": (1, 2)}
    for spec in KEYWORDS:
        name, _sep, argument = spec.partition(":")
        keywords[name] = (int(argument),) if argument else None
    return {msgid for _file, _line, msgid, *_rest in extract_from_dir(str(ROOT), method_map, options_map,
                                                                       keywords=keywords)}


def test_every_marked_message_has_an_indonesian_translation() -> None:
    catalog = _po()
    translated = {m.id: m for m in catalog if m.id}
    in_source = _in_source()
    assert len(in_source) > 350
    missing = sorted(str(m) for m in in_source if m not in translated or not translated[m].string)
    assert not missing, f"no Indonesian translation (run `make translations`, then translate): {missing}"
    empty = sorted(str(m.id) for m in translated.values()
                   if not m.string or (isinstance(m.string, tuple) and not all(m.string)))
    assert not empty, f"empty msgstr in messages.po: {empty}"
    fuzzy = sorted(str(m.id) for m in translated.values() if m.fuzzy)
    assert not fuzzy, f"fuzzy (unchecked) entries in messages.po: {fuzzy}"


def test_translations_keep_their_placeholders() -> None:
    """A translation names the same ``{value}`` / ``%(value)s`` placeholders as its English msgid."""
    fields = re.compile(r"\{([a-z_]+)\}|%\(([a-z_]+)\)s")
    wrong = []
    for m in _po():
        if not m.id or not m.string:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        wanted = set(fields.findall(ids[-1]))
        wrong += [str(ids[0]) for s in strings if set(fields.findall(s)) != wanted]
    assert not wrong, f"translations whose placeholders differ from the msgid: {wrong}"


def test_compiled_catalogue_matches_the_po_file() -> None:
    catalog = _po()
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    with open(CATALOGUE / "messages.mo", "rb") as f:
        committed = read_mo(f)
    assert _translations(committed) == _translations(read_mo(compiled))


# --- nothing unmarked in the templates --------------------------------------------------------------

_JINJA = re.compile(r"\{#.*?#\}|\{%-?\s*(raw|trans\b.*?)\s*-?%\}.*?\{%-?\s*end(raw|trans)\s*-?%\}|\{%.*?%\}|\{\{.*?\}\}",
                    re.DOTALL)
_SCRIPT_STYLE = re.compile(r"<(script|style)\b.*?</\1>", re.DOTALL | re.IGNORECASE)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_READ_ATTRS = re.compile(r'\b(title|placeholder|aria-label|alt)="([^"]*)"', re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>", re.DOTALL)
_ENTITY = re.compile(r"&[a-z]+;|&#\d+;")
#: Words that are the same in both languages (names, units, symbols).
_SAME_IN_BOTH = {"Kunci", "PIN", "CSV", "JSON", "UTC", "OK", "ID", "TLS", "HTTPS", "MQTT", "SMTP", "URL", "U0042",
                 "HH", "MM", "n"}


def _unmarked(source: str) -> list[str]:
    without_code = _JINJA.sub(" ", _COMMENT.sub(" ", _SCRIPT_STYLE.sub(" ", source)))
    found = [value for _name, value in _READ_ATTRS.findall(without_code)]
    found += _ENTITY.sub(" ", _TAG.sub(" ", without_code)).split("\n")
    words = []
    for chunk in found:
        for word in re.findall(r"[A-Za-z][A-Za-z'’-]+", chunk):
            if word not in _SAME_IN_BOTH:
                words.append(chunk.strip())
                break
    return words


@pytest.mark.parametrize("template", sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html")))
def test_no_template_text_outside_the_catalogue(template: str) -> None:
    words = _unmarked((TEMPLATES / template).read_text(encoding="utf-8"))
    assert not words, f"{template}: text not marked for translation (wrap it in {{{{ _('...') }}}}): {words}"


SITE_TEMPLATES = ROOT / "webadmin" / "site" / "templates"


@pytest.mark.parametrize("template",
                         sorted(p.relative_to(SITE_TEMPLATES).as_posix() for p in SITE_TEMPLATES.rglob("*.html")))
def test_no_site_page_template_text_outside_the_catalogue(template: str) -> None:
    words = _unmarked((SITE_TEMPLATES / template).read_text(encoding="utf-8"))
    assert not words, f"site/{template}: text not marked for translation (wrap it in {{{{ _('...') }}}}): {words}"


def test_the_template_check_finds_unmarked_text() -> None:
    assert _unmarked('<p>{{ _("Saved") }}</p><p title="{{ _(\'x\') }}">{{ count }}</p>') == []
    assert _unmarked("<p>Saved</p>") == ["Saved"]
    assert _unmarked('<input placeholder="Search">') == ["Search"]
    assert _unmarked("{% trans %}Hello {{ name }}{% endtrans %}<b>PIN</b>") == []


# --- nothing unmarked in the Python a person reads --------------------------------------------------

def _error_names() -> set[str]:
    names = set()
    for module in (controller.errors, drivers.errors):
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, (controller.errors.KunciError, drivers.errors.DriverError)):
                names.add(name)
    for path in (ROOT / "controller").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                    isinstance(b, ast.Name) and (b.id in names or b.id.endswith("Error")) for b in node.bases):
                names.add(node.name)
    return names - {"Exception", "ValueError", "RuntimeError", "OSError", "TypeError", "KeyError", "LookupError"}


def _is_english(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(re.search(r"[A-Za-z]{2}", node.value))
    if isinstance(node, ast.JoinedStr):
        return any(_is_english(v) for v in node.values)
    if isinstance(node, ast.BinOp):
        return _is_english(node.left) or _is_english(node.right)
    return False


#: The functions that mark a message: their first argument is a msgid (a literal, or a variable holding a
#: msgid marked elsewhere with N_), never text built on the spot (an f-string or a concatenation).
_MARKERS = {"_", "T", "gettext", "lazy_gettext", "ngettext"}


def _bare_messages(path: Path, errors: set[str], prints: bool) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if (name in errors or (prints and name == "print")) and _is_english(node.args[0]):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}(...)")
        elif name in _MARKERS and isinstance(node.args[0], (ast.JoinedStr, ast.BinOp)):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}(<built text: cannot be extracted>)")
    return found


PYTHON_AREAS = ["controller/cli", "controller/control", "controller/store", "controller/ops", "controller/daemon",
                "controller/core", "controller/alerts", "controller/config", "webadmin"]


@pytest.mark.parametrize("area", PYTHON_AREAS)
def test_no_bare_english_error_or_cli_message(area: str) -> None:
    errors = _error_names()
    found = []
    for path in sorted((ROOT / area).rglob("*.py")):
        found += _bare_messages(path, errors, prints=area == "controller/cli")
    assert not found, f"messages for a person written as bare English (use T(...) or _(...)): {found}"


# --- the runtime: a Text crosses a process in msgids and reads in its reader's language ---------------

def test_text_renders_in_the_current_language_and_crosses_the_wire() -> None:
    message = T("the door daemon is not running (no socket at {path})", path="/run/kunci.sock")
    wired = Text.from_wire(message.wire())
    assert wired == message
    try:
        set_language("id")
        assert str(wired) == "daemon pintu tidak berjalan (tidak ada soket di /run/kunci.sock)"
        assert message.english() == "the door daemon is not running (no socket at /run/kunci.sock)"
        error = controller.errors.DaemonUnavailable(message)
        assert str(error) == str(wired) and error.english() == message.english()
        assert error.wire() == message.wire()
    finally:
        set_language("en")
    assert str(message) == message.english()
    assert translate("no such msgid, untranslated", "id") == "no such msgid, untranslated"
    assert Text.from_wire({"msgid": 3}) is None and Text.from_wire("x") is None
