"""Alembic environment of the site database (schema ``kunci``), driven from code by
``controller.site.migrate.upgrade_site`` with an open connection in ``config.attributes["connection"]``.

Before any migration, in the same transaction, :func:`bootstrap` makes what a migration cannot own: the three
group roles (``kunci_site_owner`` owns every object, ``kunci_site_admin`` is the site web/CLI, ``kunci_controller``
holds every controller's login role), the caller's membership in the owner role, CONNECT on the database and the
schema ``kunci``. Then it switches to the owner role (``SET LOCAL ROLE``) so every table, function and the version
table ``kunci.alembic_version`` belong to ``kunci_site_owner``, whatever login ran the upgrade (it needs
CREATEROLE and to own the database; docs/site.md "Setting up the database").
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from controller.site.schema import ADMIN_ROLE, CONTROLLER_ROLE, OWNER_ROLE, SCHEMA, metadata

config = context.config
target_metadata = metadata

BOOTSTRAP = [
    f"""DO $$
    BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{OWNER_ROLE}') THEN
        CREATE ROLE {OWNER_ROLE} NOLOGIN;
      END IF;
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ADMIN_ROLE}') THEN
        CREATE ROLE {ADMIN_ROLE} NOLOGIN;
      END IF;
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{CONTROLLER_ROLE}') THEN
        CREATE ROLE {CONTROLLER_ROLE} NOLOGIN;
      END IF;
      IF NOT pg_has_role(current_user, '{OWNER_ROLE}', 'MEMBER') THEN
        EXECUTE 'GRANT {OWNER_ROLE} TO ' || quote_ident(current_user);
      END IF;
      EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
      EXECUTE format('GRANT CONNECT ON DATABASE %I TO {ADMIN_ROLE}, {CONTROLLER_ROLE}', current_database());
    END $$""",
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA} AUTHORIZATION {OWNER_ROLE}",
    f"SET LOCAL ROLE {OWNER_ROLE}",
    f"SET LOCAL search_path = {SCHEMA}, pg_catalog",
]


def bootstrap(connection: Connection) -> None:
    """Roles, membership, CONNECT and the schema (idempotent); then act as the owner role."""
    for statement in BOOTSTRAP:
        connection.execute(text(statement))


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("the site migrations run from kunci site init (controller.site.migrate), with a connection")
    bootstrap(connection)
    context.configure(connection=connection, target_metadata=target_metadata, version_table_schema=SCHEMA,
                      include_schemas=True, transaction_per_migration=False)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
