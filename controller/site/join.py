"""``kunci site join``: a controller joins the site with the bundle ``kunci site add-controller`` made.

Everything is checked before anything is written, so a bad bundle, a wrong password, an unknown door or a
refused pepper change leaves DATA as it was:

1. the bundle (fields, 0600) and its door names against this controller's configured doors;
2. the local PINs: the site's pepper replaces the local one (a site PIN digest must match here), which makes
   every local PIN useless, so local people holding PINs refuse the join unless ``--replace-pepper``;
3. the daemon must be stopped (the pepper and the configuration change under it otherwise);
4. a login to the site database as the controller's role (TLS as the bundle says), which must map to its
   controller (``kunci.my_controller_id()``); the local audit key is uploaded into ``kunci.controller_keys``
   (once; a second join finds it there) so the site can verify the uploaded chain;

then it writes DATA/secrets/site-password (0600), DATA/site-ca.pem, the site pepper (0600) and the
``[site_link]`` section of kunci.toml (C6 keys; any earlier section replaced).
"""

from __future__ import annotations

import json
import re
import sqlite3
import tomllib
from dataclasses import dataclass
from pathlib import Path

import psycopg

from controller.config import parse_config
from controller.errors import DataDirError, InvalidInput, KunciError, PolicyRefused
from controller.fileio import atomic_write
from controller.i18n import T, Text
from controller.paths import DataDir
from controller.site.bundle import Bundle, read_bundle
from controller.store.keys import load_audit_key, load_pepper

SITE_PASSWORD_FILE = "secrets/site-password"
SITE_CA_FILE = "site-ca.pem"
_SECTION = re.compile(r"^\[site_link\]\s*(#.*)?$")
_ANY_TABLE = re.compile(r"^\s*\[")


@dataclass(frozen=True)
class Joined:
    """What a join did: the controller name, its doors, whether the audit key was uploaded now, local PINs
    made useless (only with ``--replace-pepper``) and configured doors the site does not know."""

    controller: str
    doors: tuple[str, ...]
    key_uploaded: bool
    pins_invalidated: int
    doors_not_at_site: tuple[str, ...]


def site_link_section(bundle: Bundle, ca_file: str) -> str:
    """The ``[site_link]`` table for ``bundle`` (keys exactly as the configuration's schema, C6)."""
    values = {"enabled": True, "controller": bundle.controller, "host": bundle.host, "port": bundle.port,
              "dbname": bundle.dbname, "user": bundle.user, "password_file": SITE_PASSWORD_FILE,
              "sslmode": bundle.sslmode, "ca_file": ca_file}
    lines = ["[site_link]"] + [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def replace_section(config_text: str, section: str) -> str:
    """``config_text`` with its ``[site_link]`` table (if any) replaced by ``section`` at the end."""
    kept: list[str] = []
    inside = False
    for line in config_text.splitlines():
        if _SECTION.match(line.strip()):
            inside = True
            continue
        if inside and _ANY_TABLE.match(line):
            inside = False
        if not inside:
            kept.append(line)
    body = "\n".join(kept).rstrip("\n")
    return (body + "\n\n" if body else "") + section


def _local_pins(datadir: DataDir, store_url: str) -> int:
    from controller.store.reader import connect

    with connect(datadir, store_url, readonly=True) as conn:
        if conn is None:
            raise DataDirError(T("kunci site join needs the door database in DATA (SQLite)"))
        try:
            return int(conn.execute("SELECT count(*) FROM pin_credentials").fetchone()[0])
        except sqlite3.Error:
            return 0


def _daemon_running(datadir: DataDir) -> bool:
    from controller.control.client import ControlClient

    if not datadir.socket_path.exists():
        return False
    try:
        ControlClient(datadir.socket_path, timeout=2.0).call("status")
    except (KunciError, OSError):
        return False
    return True


def _site_login(bundle: Bundle, ca_file: Path | None, audit_key: bytes) -> bool:
    """Log in as the controller, check it maps to its controller, upload the audit key; True if uploaded now."""
    settings = bundle.settings(ca_file)
    try:
        conn = psycopg.connect(**settings.connect_args(bundle.password), autocommit=True)
    except psycopg.Error as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
        raise InvalidInput(T("cannot log in to the site database {host}:{port} as {user}: {reason} (nothing was "
                             "changed)", host=bundle.host, port=bundle.port, user=bundle.user, reason=reason)) from exc
    with conn:
        try:
            cid = conn.execute("SELECT kunci.my_controller_id()").fetchone()[0]
        except psycopg.Error as exc:
            raise InvalidInput(T("the site database has no Kunci site schema: {reason}", reason=str(exc).strip()))
        if cid is None:
            raise InvalidInput(T("the role {user} is not a controller of this site (nothing was changed)",
                                 user=bundle.user))
        try:
            conn.execute("INSERT INTO kunci.controller_keys (controller_id, audit_key) VALUES (%s, %s)",
                         (cid, audit_key))
            uploaded = True
        except psycopg.errors.UniqueViolation:
            uploaded = False  # joined before: the key is at the site already (a controller cannot read it)
        conn.execute("SELECT kunci.controller_checkin(0, 0)")
    return uploaded


def join(datadir: DataDir, bundle_path: Path, *, replace_pepper: bool = False) -> Joined:
    """Join the site (module docstring); every refusal changes nothing."""
    bundle = read_bundle(bundle_path)
    problems: list[Text] = bundle.settings(None).problems()
    if problems:
        raise InvalidInput(problems[0])
    if not datadir.initialised():
        raise DataDirError(T("{data} is not an initialised data directory (kunci init)", data=datadir.root))
    config_path = datadir.config_file
    old_text = config_path.read_text() if config_path.exists() else ""
    ca_file = (datadir.root / SITE_CA_FILE).resolve() if bundle.ca_pem else None
    new_text = replace_section(old_text, site_link_section(bundle, str(ca_file) if ca_file else ""))
    config = parse_config(tomllib.loads(new_text))  # ConfigError: the section would not be accepted
    ours = config.door_names
    unknown = [d for d in bundle.doors if d not in ours]
    if unknown:
        raise InvalidInput(T("the bundle names doors this controller does not drive: {doors} (its doors: {ours}); "
                             "nothing was changed", doors=", ".join(unknown), ours=", ".join(ours)))
    pepper = bundle.pepper_bytes()
    pins = 0
    if load_pepper(datadir) != pepper:
        pins = _local_pins(datadir, config.store.url)
        if pins and not replace_pepper:
            raise PolicyRefused(T("{n} local people hold PINs made with this controller's own pepper; joining "
                                  "replaces it with the site's and those PINs stop working. Give --replace-pepper "
                                  "to accept that (then issue new PINs). Nothing was changed", n=pins))
    if _daemon_running(datadir):
        raise PolicyRefused(T("the door daemon is running: stop it first (kunci site join changes its pepper and "
                              "configuration). Nothing was changed"))
    if ca_file is not None:
        atomic_write(ca_file, bundle.ca_pem, mode=0o644)
    uploaded = _site_login(bundle, ca_file, load_audit_key(datadir))
    atomic_write(datadir.root / SITE_PASSWORD_FILE, bundle.password + "\n", mode=0o600)
    atomic_write(datadir.pepper_file, pepper, mode=0o600)
    mode = config_path.stat().st_mode & 0o777 if config_path.exists() else 0o640
    atomic_write(config_path, new_text, mode=mode)
    return Joined(bundle.controller, bundle.doors, uploaded, pins if replace_pepper else 0,
                  tuple(d for d in ours if d not in bundle.doors))
