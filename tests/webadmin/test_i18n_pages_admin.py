"""Bahasa Indonesia on the admin pages for rules, visitors, staff, review, settings and audit: each answers in
Indonesian with its key words translated and no ``%(name)s`` placeholder or template braces left over."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from web_support import get, post

_TAG = re.compile(r"<(script|style)\b.*?</\1>|<[^>]*>", re.DOTALL | re.IGNORECASE)
_PIN_PAGE = re.compile(r"/visitors/pin-once/[^\"']+")


def _text(page: str) -> str:
    """The words a person reads: tag-free text plus the title/placeholder/aria-label attributes."""
    attrs = " ".join(re.findall(r'\b(?:title|placeholder|aria-label)="([^"]*)"', page))
    return html.unescape(" ".join((_TAG.sub(" ", page) + " " + attrs).split()))


@pytest.fixture
def indonesian(admin: Any) -> Any:
    """An admin whose pages are in Indonesian, with a schedule, a group, a holiday and a visitor to show."""
    assert post(admin, "/account/language", {"language": "id"}).status_code == 303
    assert post(admin, "/schedules/new", {"name": "Kantor", "start_0_0": "08:00", "end_0_0": "17:00",
                                          "start_4_0": "08:00", "end_4_0": "24:00"}).status_code == 303
    assert post(admin, "/groups/new", {"name": "Arsip", "schedule": "Kantor"}).status_code == 303
    assert post(admin, "/holidays/new", {"day": "2030-08-17", "name": "Hari Kemerdekaan"}).status_code == 303
    r = post(admin, "/visitors/new", {"name": "Tamu Satu", "length": "3", "unit": "hours", "escort_group": "Arsip",
                                      "group": ""})
    assert r.status_code == 303
    admin.pin_page = r.headers["Location"]
    return admin


PAGES = [
    ("/groups", ["Grup akses", "Ubah jadwal", "Ganti nama", "Hapus…", "Grup baru", "mode pintu", "dua orang"],
     ["Access groups", "Change schedule", "Rename", "Add group", "any time", "two persons", "the door's mode"]),
    ("/groups/rename?name=Arsip", ["Ganti nama grup 'Arsip'", "anggota grup ini tetap", "Nama baru",
                                   "Batal: kembali ke daftar grup"],
     ["Rename group", "member(s)", "New name", "Cancel"]),
    ("/schedules", ["Jadwal mingguan", "Senin 08:00–17:00", "Jumat 08:00–24:00", "Hari libur: ditolak",
                    "Jadwal baru", "Rentang waktu", "Tambah jadwal", "Waktu 24 jam, HH:MM", "Senin rentang 1 dari"],
     ["Weekly schedules", "Monday", "Friday", "Holidays:", "New schedule", "Time windows", "window 1", "24-hour"]),
    ("/schedules/edit?name=Kantor", ["Ubah jadwal 'Kantor'", "Waktu setempat", "1 grup mengikutinya (Arsip)",
                                     "Simpan jadwal", "Batal: kembali ke daftar jadwal", "Izinkan masuk pada hari libur"],
     ["Edit schedule", "Times are local", "follow it", "Save schedule", "Allow entry"]),
    ("/holidays", ["Hari libur", "Tanggal", "Hapus hari libur pada 2030-08-17", "Hari libur baru", "Tambah hari libur"],
     ["Holidays", "Date", "Remove", "New holiday", "Add holiday"]),
    ("/visitors", ["Tamu saat ini", "Kunjungan berakhir", "Grup pendamping", "Grup akses", "tidak ada", "Tambah tamu",
                   "Lama kunjungan", "Paling lama", "jam", "Staf tercantum di halaman Personel"],
     ["Current visitors", "Visit ends", "Escort group", "Add visitor", "Length of the visit", "hours", "At most",
      "Staff are on"]),
    ("/review", ["Tinjauan akses", "Persetujuan terakhir", "Belum ada tinjauan yang disetujui",
                 "Kredensial yang tidak dipakai", "Setujui tinjauan ini", "Catatan (apa yang diperiksa"],
     ["Access review", "Last sign-off", "Credentials unused", "Sign off", "None."]),
    ("/settings", ["Pengaturan", "Konfigurasi yang berlaku", "umum", "Nilai", "Diubah", "(disembunyikan)"],
     ["The configuration in effect", "Setting", "Value", "Changed", "(hidden)"]),
    ("/staff", ["Akun staf", "Nama pengguna", "Peran", "Keadaan", "aktif", "(Anda)", "Akhiri sesi lain", "Tetapkan peran",
                "Nonaktifkan", "Akun baru", "Ulangi kata sandi", "Tambah akun", "Kata sandi Anda"],
     ["Staff accounts", "Username", "Role", "State", "(you)", "End other sessions", "Set role", "Disable",
      "New account", "Password again", "Add account", "Your password"]),
    ("/audit", ["Rantai audit", "Kepala rantai", "Yang dapat diperiksa halaman ini", "Kejadian yang disegel",
                "tanpa celah (1 sampai", "Menunggu disegel", "kunci audit verify"],
     ["Audit chain", "Chain head", "What this page can check", "Sealed events", "gap-free", "Waiting to be sealed"]),
]


@pytest.mark.parametrize(("path", "words", "english"), PAGES, ids=[p[0] for p in PAGES])
def test_admin_page_answers_in_indonesian(indonesian: Any, path: str, words: list[str], english: list[str]) -> None:
    reply = get(indonesian, path)
    page = reply.get_data(as_text=True)
    text = _text(page)
    assert reply.status_code == 200, path
    assert 'lang="id"' in page, path
    assert "%(" not in page and "{{" not in page and "{%" not in page, path
    missing = [w for w in words if w not in text]
    assert not missing, f"{path}: not in Indonesian: {missing}\n{text}"
    left = [w for w in english if w in text]
    assert not left, f"{path}: English left over: {left}\n{text}"


def test_visitor_pin_page_in_indonesian(indonesian: Any) -> None:
    reply = get(indonesian, indonesian.pin_page)
    page = reply.get_data(as_text=True)
    text = _text(page)
    assert reply.status_code == 200 and 'lang="id"' in page
    assert "%(" not in page and "{{" not in page and "{%" not in page
    for word in ("Tamu baru", "PIN untuk", "Kunjungan berakhir pada", "hanya membuka pintu setelah seorang anggota Arsip",
                 "Berikan kepada tamu sekarang", "Selesai: ke daftar tamu", "Angka PIN"):
        assert word in text, word
    assert "<strong>Arsip</strong>" in page
    again = get(indonesian, indonesian.pin_page)
    assert again.status_code == 410
    text = _text(again.get_data(as_text=True))
    assert "PIN sudah ditampilkan" in text and "tidak menambah tamu" in text and "Ke daftar tamu" in text
    assert "already shown" not in text


def test_english_stays_the_default_on_these_pages(admin: Any) -> None:
    for path, word in (("/groups", "Access groups"), ("/schedules", "Weekly schedules"), ("/holidays", "New holiday"),
                       ("/visitors", "Current visitors"), ("/review", "Last sign-off"), ("/settings", "Setting"),
                       ("/staff", "Staff accounts"), ("/audit", "Audit chain")):
        page = get(admin, path).get_data(as_text=True)
        assert 'lang="en"' in page and word in page, path
