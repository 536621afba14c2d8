"""The join bundle: what ``kunci site add-controller`` hands to ``kunci site join`` on the controller.

A JSON object in a 0600 file (it holds the controller role's password and the site's PIN pepper; move it on a
USB stick or over ssh, then delete it)::

    {"format": 1, "host", "port", "dbname", "sslmode", "ca_pem" ("" = the system's CAs), "controller", "user",
     "password", "pepper" (hex), "doors": [door names]}
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from controller.errors import InvalidInput
from controller.fileio import atomic_write
from controller.i18n import T
from controller.site.siteconf import DatabaseSettings, read_private

FORMAT = 1
#: Largest bundle read, in bytes (a CA chain included).
MAX_BYTES = 256 * 1024


@dataclass(frozen=True)
class Bundle:
    host: str
    port: int
    dbname: str
    sslmode: str
    ca_pem: str
    controller: str
    user: str
    password: str
    pepper: str
    doors: tuple[str, ...]
    format: int = FORMAT

    def pepper_bytes(self) -> bytes:
        return bytes.fromhex(self.pepper)

    def settings(self, ca_file: Path | None) -> DatabaseSettings:
        return DatabaseSettings(host=self.host, port=self.port, dbname=self.dbname, user=self.user,
                                sslmode=self.sslmode, ca_file=ca_file)


def write_bundle(path: Path, bundle: Bundle) -> None:
    """Write ``bundle`` to ``path`` (0600); refuses to overwrite an existing file."""
    data = asdict(bundle)
    data["doors"] = list(bundle.doors)
    try:
        atomic_write(path, json.dumps(data, indent=1, sort_keys=True) + "\n", mode=0o600, replace=False)
    except FileExistsError:
        raise InvalidInput(T("{path} exists already: give another --out (nothing was changed)", path=path)) from None


def _bad(path: Path, why: str) -> InvalidInput:
    return InvalidInput(T("{path} is not a Kunci join bundle: {why}", path=path, why=why))


def read_bundle(path: Path) -> Bundle:
    """The bundle in ``path`` (0600/0400), checked field by field; InvalidInput naming what is wrong."""
    try:
        data: Any = json.loads(read_private(path, MAX_BYTES).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad(path, "not JSON") from exc
    if not isinstance(data, dict):
        raise _bad(path, "not a JSON object")
    if data.get("format") != FORMAT:
        raise _bad(path, f"format {data.get('format')!r}, expected {FORMAT}")
    strings = ("host", "dbname", "sslmode", "ca_pem", "controller", "user", "password", "pepper")
    missing = [k for k in strings if not isinstance(data.get(k), str)]
    if missing or not isinstance(data.get("port"), int) or not isinstance(data.get("doors"), list):
        raise _bad(path, "missing or wrong " + ", ".join(missing or ["port/doors"]))
    if not re.fullmatch(r"[0-9a-f]{64}", data["pepper"]):
        raise _bad(path, "the pepper must be 64 hexadecimal characters")
    if not data["doors"] or not all(isinstance(d, str) and d for d in data["doors"]):
        raise _bad(path, "no doors")
    return Bundle(host=data["host"], port=data["port"], dbname=data["dbname"], sslmode=data["sslmode"],
                  ca_pem=data["ca_pem"], controller=data["controller"], user=data["user"], password=data["password"],
                  pepper=data["pepper"], doors=tuple(data["doors"]))
