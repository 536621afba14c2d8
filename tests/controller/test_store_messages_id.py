"""The store's refusals read in Indonesian or in the exact English, and cross the control socket intact.

A refusal carries a :class:`~controller.i18n.Text` (msgid + values): ``str(exc)`` is in the current
language, :meth:`~controller.errors.KunciError.wire` gives the JSON the daemon sends, and
:meth:`Text.from_wire` on the other side gives back the same message, shown in its reader's language.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from controller.errors import InvalidInput, KunciError, NotFound, PolicyRefused, SecretsError
from controller.i18n import Text, set_language
from controller.store import keys, password_rules, people, people_import, schedules
from controller.store.db import make_engine, session_factory, upgrade_database

SIGNED = date(2026, 1, 5)
TODAY = date(2026, 3, 1)


@pytest.fixture(autouse=True)
def english_afterwards() -> Iterator[None]:
    yield
    set_language("en")


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Any]:
    engine = make_engine(f"sqlite:///{tmp_path / 'kunci.db'}")
    upgrade_database(engine)
    with session_factory(engine)() as s:
        yield s
    engine.dispose()


def refusal(kind: type[KunciError], action: Callable[[], object]) -> KunciError:
    """The error ``action`` raises, raised while the current language is Indonesian."""
    set_language("id")
    with pytest.raises(kind) as caught:
        action()
    return caught.value


def check(error: KunciError, indonesian: str, english: str) -> None:
    """``error`` reads ``indonesian`` in id, exactly ``english`` in en, the same after crossing the wire."""
    [message] = error.args
    assert isinstance(message, Text)
    wired = Text.from_wire(error.wire())
    assert wired == message
    set_language("id")
    assert str(error) == indonesian and str(wired) == indonesian
    set_language("en")
    assert str(error) == english and str(wired) == english
    assert error.english() == english


def add(session: Any, **kw: Any) -> Any:
    kw.setdefault("agreement_signed_on", SIGNED)
    return people.add_user(session, name="A. Staff", actor="cli", today=TODAY, **kw)


def test_a_bad_person_code(session: Any) -> None:
    error = refusal(InvalidInput, lambda: people.get_user(session, "X-42"))
    check(error, "kode personel berbentuk seperti U0042", "a person code looks like U0042")


def test_a_missing_person(session: Any) -> None:
    error = refusal(NotFound, lambda: people.get_user(session, "u0042"))
    check(error, "tidak ada personel dengan kode U0042", "no person with code U0042")


def test_the_agreement_policy(session: Any) -> None:
    error = refusal(PolicyRefused, lambda: add(session, agreement_signed_on=None))
    check(error, "tanggal perjanjian kerahasiaan wajib diisi sebelum personel dapat diaktifkan "
                 "(site.require_agreement)",
          "a confidentiality agreement date is required before a person can be activated (site.require_agreement)")


def test_a_status_already_set_and_a_revocation_are_whole_sentences(session: Any) -> None:
    code = add(session).code
    people.set_status(session, code, "suspended", "cli")
    error = refusal(InvalidInput, lambda: people.set_status(session, code, "suspended", "cli"))
    check(error, "U0001 sudah ditangguhkan", "U0001 is already suspended")
    people.set_status(session, code, "revoked", "cli")
    error = refusal(PolicyRefused, lambda: people.set_status(session, code, "active", "cli"))
    check(error, "U0001 sudah dicabut; pencabutan bersifat permanen (tambahkan personel ini lagi untuk mendapat "
                 "kode baru)",
          "U0001 is revoked; revocation is final (add the person again for a new code)")


def test_a_label_refusal_names_its_kind_in_each_language(session: Any) -> None:
    error = refusal(InvalidInput, lambda: schedules.add_group(session, "Night\nshift", actor="cli"))
    check(error, "nama grup mengandung karakter kontrol (baris baru, tab, NUL, escape, atau sejenisnya); "
                 "gunakan hanya karakter yang dapat dicetak",
          "the group name contains a control character (newline, tab, NUL, escape or similar); "
          "use printable characters only")
    error = refusal(InvalidInput, lambda: schedules.add_schedule(session, "x" * 81, [(0, 0, 60)], actor="cli"))
    check(error, "nama jadwal terlalu panjang (paling banyak 80 karakter)",
          "the schedule name is too long (at most 80 characters)")
    error = refusal(PolicyRefused, lambda: (add(session, group=schedules.add_group(session, "Day", actor="cli").name),
                                            schedules.delete_group(session, "Day", actor="cli")))
    check(error, "grup masih memiliki 1 anggota; pindahkan mereka ke grup lain terlebih dahulu",
          "the group still has 1 member(s); move them to another group first")


def test_a_secret_file_refusal(tmp_path: Path) -> None:
    path = tmp_path / "pepper"
    error = refusal(SecretsError, lambda: keys.read_private(path, "secret file", 64))
    check(error, f"berkas rahasia {path} tidak ada", f"secret file {path} is missing")


def test_import_problems_are_pieces_shown_in_the_reader_language(session: Any) -> None:
    rows, problems = people_import.parse_csv("name,colour\nA,red\n")
    assert rows == [] and len(problems) == 1
    set_language("id")
    assert str(problems[0]) == ("baris 1: kolom tidak dikenal 'colour' (kolom yang ada: name, group, valid_from, "
                                "valid_until, agreement_signed_on)")
    set_language("en")
    assert str(problems[0]) == ("line 1: unknown column 'colour' (columns: name, group, valid_from, valid_until, "
                                "agreement_signed_on)")
    rows, problems = people_import.parse_csv("name,valid_from\nA,2026-13-01\n")
    checked, bad = people_import.check_rows(session, rows, require_agreement=False, today=TODAY)
    assert checked == [] and [p.line for p in bad] == [2]
    set_language("id")
    assert str(bad[0]) == "baris 2: valid_from bukan tanggal yang ada"
    assert str(people_import.refusal(bad)) == ("1 baris bermasalah, tidak ada yang diimpor: "
                                               "baris 2: valid_from bukan tanggal yang ada")
    set_language("en")
    assert str(bad[0]) == "line 2: valid_from is not a real date"
    assert str(people_import.refusal(bad)) == ("1 bad line(s), nothing was imported: "
                                               "line 2: valid_from is not a real date")


def test_password_problems_are_in_the_current_language() -> None:
    set_language("id")
    assert password_rules.check_password("short") == ["kata sandi harus terdiri dari paling sedikit 12 karakter"]
    set_language("en")
    assert password_rules.check_password("short") == ["the password must have at least 12 characters"]
