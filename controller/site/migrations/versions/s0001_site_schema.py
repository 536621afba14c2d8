"""The site schema: tables, the revisions sequence, row-level security for controller roles, functions.

Revision ID: s0001
Revises:
Create Date: 2026-12-02

Every table has RLS enabled and FORCEd: the owner and site-admin roles see every row (policy ``site_all``); a
controller role (member of ``kunci_controller``) sees only its own feed rows, reads and inserts only its own
events, inserts its own audit key once, and nothing else (no grant at all on people, pin_digests, staff, groups,
doors, rooms, schedules). ``kunci.my_controller_id()`` maps the login role to its controller;
``kunci.controller_checkin(revision, uploaded)`` records its contact (both SECURITY DEFINER).
"""

from __future__ import annotations

from alembic import op

revision = "s0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = ("controllers", "controller_keys", "rooms", "doors", "schedules", "schedule_windows", "holidays", "groups",
          "group_doors", "people", "pin_digests", "staff", "feed", "events")

DDL = """
CREATE SEQUENCE kunci.revisions AS bigint;

CREATE TABLE kunci.controllers (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9_-]{1,40}$'),
    role text NOT NULL UNIQUE,
    joined_at timestamptz,
    last_seen_at timestamptz,
    revision_seen bigint NOT NULL DEFAULT 0,
    uploaded_seq bigint NOT NULL DEFAULT 0
);

CREATE TABLE kunci.controller_keys (
    controller_id integer PRIMARY KEY REFERENCES kunci.controllers(id) ON DELETE CASCADE,
    audit_key bytea NOT NULL CHECK (length(audit_key) = 32)
);

CREATE TABLE kunci.rooms (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 80)
);

CREATE TABLE kunci.doors (
    id serial PRIMARY KEY,
    controller_id integer NOT NULL REFERENCES kunci.controllers(id) ON DELETE CASCADE,
    name text NOT NULL CHECK (name ~ '^[a-z0-9_-]{1,40}$'),
    room_id integer NOT NULL REFERENCES kunci.rooms(id),
    mode text CHECK (mode IN ('pin', 'finger', 'pin_or_finger', 'pin_and_finger')),
    UNIQUE (controller_id, name)
);

CREATE TABLE kunci.schedules (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    allow_on_holidays boolean NOT NULL DEFAULT false
);

CREATE TABLE kunci.schedule_windows (
    schedule_id integer NOT NULL REFERENCES kunci.schedules(id) ON DELETE CASCADE,
    weekday integer NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    start_minute integer NOT NULL CHECK (start_minute BETWEEN 0 AND 1440),
    end_minute integer NOT NULL CHECK (end_minute BETWEEN 0 AND 1440 AND end_minute > start_minute)
);

CREATE TABLE kunci.holidays (
    day date PRIMARY KEY,
    name text NOT NULL DEFAULT ''
);

CREATE TABLE kunci.groups (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    schedule_id integer REFERENCES kunci.schedules(id),
    required_mode text CHECK (required_mode IN ('pin', 'finger', 'pin_or_finger', 'pin_and_finger')),
    two_person boolean NOT NULL DEFAULT false
);

CREATE TABLE kunci.group_doors (
    group_id integer NOT NULL REFERENCES kunci.groups(id) ON DELETE CASCADE,
    door_id integer NOT NULL REFERENCES kunci.doors(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, door_id)
);

CREATE TABLE kunci.people (
    id serial PRIMARY KEY,
    code text NOT NULL UNIQUE,
    display_name text NOT NULL DEFAULT '',
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'revoked')),
    kind text NOT NULL DEFAULT 'staff',
    valid_from date,
    valid_until date,
    group_id integer REFERENCES kunci.groups(id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE kunci.pin_digests (
    person_id integer PRIMARY KEY REFERENCES kunci.people(id) ON DELETE CASCADE,
    digest bytea NOT NULL UNIQUE
);

CREATE TABLE kunci.staff (
    id serial PRIMARY KEY,
    username text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    role text NOT NULL CHECK (role IN ('admin', 'auditor')),
    rooms integer[],
    active boolean NOT NULL DEFAULT true
);

CREATE TABLE kunci.feed (
    revision bigint PRIMARY KEY DEFAULT nextval('kunci.revisions'),
    controller_id integer NOT NULL REFERENCES kunci.controllers(id) ON DELETE CASCADE,
    op text NOT NULL,
    key text NOT NULL,
    payload jsonb NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_feed_controller_revision ON kunci.feed (controller_id, revision);

CREATE TABLE kunci.events (
    controller_id integer NOT NULL,
    seq bigint NOT NULL,
    time text NOT NULL,
    type text NOT NULL,
    reason text,
    method text,
    user_code text,
    door text,
    actor text,
    score integer,
    detail text,
    mac bytea NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (controller_id, seq)
);

CREATE FUNCTION kunci.my_controller_id() RETURNS integer
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog
    AS $$ SELECT id FROM kunci.controllers WHERE role = session_user $$;

CREATE FUNCTION kunci.controller_checkin(revision bigint, uploaded bigint) RETURNS integer
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog
    AS $$ UPDATE kunci.controllers
             SET last_seen_at = now(),
                 revision_seen = GREATEST(revision_seen, revision),
                 uploaded_seq = GREATEST(uploaded_seq, uploaded)
           WHERE role = session_user
       RETURNING id $$;

REVOKE ALL ON FUNCTION kunci.my_controller_id() FROM PUBLIC;
REVOKE ALL ON FUNCTION kunci.controller_checkin(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION kunci.my_controller_id() TO kunci_controller, kunci_site_admin;
GRANT EXECUTE ON FUNCTION kunci.controller_checkin(bigint, bigint) TO kunci_controller;

GRANT USAGE ON SCHEMA kunci TO kunci_controller, kunci_site_admin;
GRANT SELECT ON kunci.feed TO kunci_controller;
GRANT SELECT, INSERT ON kunci.events TO kunci_controller;
GRANT INSERT ON kunci.controller_keys TO kunci_controller;
GRANT USAGE, SELECT ON SEQUENCE kunci.revisions TO kunci_site_admin;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA kunci TO kunci_site_admin;

CREATE POLICY own_feed ON kunci.feed FOR SELECT TO kunci_controller
    USING (controller_id = kunci.my_controller_id());
CREATE POLICY own_events_read ON kunci.events FOR SELECT TO kunci_controller
    USING (controller_id = kunci.my_controller_id());
CREATE POLICY own_events_write ON kunci.events FOR INSERT TO kunci_controller
    WITH CHECK (controller_id = kunci.my_controller_id());
CREATE POLICY own_key_write ON kunci.controller_keys FOR INSERT TO kunci_controller
    WITH CHECK (controller_id = kunci.my_controller_id());
"""


def _statements(sql: str) -> list[str]:
    """The DDL split into statements (no semicolon inside a function body is followed by a newline)."""
    return [s.strip() for s in sql.split(";\n") if s.strip()]


def upgrade() -> None:
    for statement in _statements(DDL):
        op.execute(statement)
    for table in TABLES:
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON kunci.{table} TO kunci_site_admin")
        op.execute(f"ALTER TABLE kunci.{table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE kunci.{table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY site_all ON kunci.{table} TO kunci_site_owner, kunci_site_admin "
                   "USING (true) WITH CHECK (true)")


def downgrade() -> None:
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE kunci.{table} CASCADE")
    op.execute("DROP FUNCTION kunci.my_controller_id()")
    op.execute("DROP FUNCTION kunci.controller_checkin(bigint, bigint)")
    op.execute("DROP SEQUENCE kunci.revisions")
