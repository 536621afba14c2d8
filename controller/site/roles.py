"""Controller roles at the site (docs/site.md "Roles"): one LOGIN role per controller, ``kunci_ctl_<name>``,
member of the NOLOGIN group ``kunci_controller`` whose grants and row-level security policies (migration s0001)
let it read only its own feed, read/insert only its own events and insert its own audit key once.

:func:`create_controller_role` makes the role with a random password (returned once, for the join bundle);
:func:`reset_password` gives it a new one; :func:`drop_controller_role` removes it.
"""

from __future__ import annotations

import re
import secrets

from sqlalchemy import text
from sqlalchemy.engine import Connection

from controller.errors import InvalidInput
from controller.i18n import T
from controller.site.schema import CONTROLLER_ROLE, CONTROLLER_ROLE_PREFIX

#: A controller's (and a door's) name: 1-40 of a-z, 0-9, _ and - (as the doors of the configuration).
NAME_RE = re.compile(r"^[a-z0-9_-]{1,40}$")
#: Random bytes of a controller role's password (URL-safe text, about 43 characters).
PASSWORD_BYTES = 32


def check_name(name: str) -> str:
    """``name`` when it is a valid controller name, else InvalidInput."""
    if not NAME_RE.match(name):
        raise InvalidInput(T("controller or door name {name} must be 1-40 characters of a-z, 0-9, _ and -", name=name))
    return name


def role_name(controller: str) -> str:
    """The LOGIN role of controller ``controller`` (``-`` becomes ``_``: role names are quoted nowhere)."""
    return CONTROLLER_ROLE_PREFIX + check_name(controller).replace("-", "_")


def _quote(conn: Connection, identifier: str) -> str:
    return conn.dialect.identifier_preparer.quote_identifier(identifier)


def _literal(conn: Connection, value: str) -> str:
    return conn.execute(text("SELECT quote_literal(:v)"), {"v": value}).scalar_one()


def role_exists(conn: Connection, role: str) -> bool:
    return conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first() is not None


def create_controller_role(conn: Connection, controller: str) -> tuple[str, str]:
    """Create the LOGIN role of ``controller`` in ``kunci_controller``; ``(role, password)``.

    InvalidInput when a role of that name exists already (a controller is added once). The password is drawn
    here and never stored at the site: it goes into the join bundle only (PostgreSQL keeps its SCRAM verifier).
    """
    role = role_name(controller)
    if role_exists(conn, role):
        raise InvalidInput(T("a database role {role} exists already: controller {name} was added before",
                             role=role, name=controller))
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    conn.execute(text(f"CREATE ROLE {_quote(conn, role)} LOGIN NOCREATEDB NOCREATEROLE "
                      f"CONNECTION LIMIT 8 PASSWORD {_literal(conn, password)} IN ROLE {CONTROLLER_ROLE}"))
    return role, password


def reset_password(conn: Connection, controller: str) -> str:
    """A new random password for the role of ``controller`` (for a new bundle); the old one stops working."""
    role = role_name(controller)
    if not role_exists(conn, role):
        raise InvalidInput(T("no database role {role}", role=role))
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    conn.execute(text(f"ALTER ROLE {_quote(conn, role)} PASSWORD {_literal(conn, password)}"))
    return password


def drop_controller_role(conn: Connection, controller: str) -> None:
    """Drop the role of ``controller`` (its rows stay: events are kept at the site)."""
    role = role_name(controller)
    if role_exists(conn, role):
        conn.execute(text(f"DROP ROLE {_quote(conn, role)}"))
