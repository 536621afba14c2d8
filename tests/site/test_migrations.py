"""The site migrations on a real PostgreSQL server: tables, owner, idempotence, the schema description."""

from __future__ import annotations

from sqlalchemy import inspect, text

from controller.site import schema
from controller.site.migrate import shipped_head, site_revision, upgrade_site
from tests.site.conftest import SiteDb


def test_head_is_applied_and_a_second_upgrade_changes_nothing(site_db: SiteDb) -> None:
    assert site_revision(site_db.engine) == shipped_head() == "s0001"
    assert upgrade_site(site_db.engine) == ("s0001", "s0001")


def test_every_table_matches_schema_py_and_belongs_to_the_owner_role(site_db: SiteDb) -> None:
    inspector = inspect(site_db.engine)
    tables = set(inspector.get_table_names(schema="kunci")) - {"alembic_version"}
    assert tables == {t.name for t in schema.metadata.sorted_tables}
    for table in schema.metadata.sorted_tables:
        columns = {c["name"] for c in inspector.get_columns(table.name, schema="kunci")}
        assert columns == {c.name for c in table.columns}, table.name
    with site_db.engine.connect() as conn:
        owners = set(conn.execute(text("SELECT DISTINCT tableowner FROM pg_tables "
                                       "WHERE schemaname = 'kunci'")).scalars())
        forced = conn.execute(text("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                   "WHERE n.nspname = 'kunci' AND c.relkind = 'r' AND c.relname <> 'alembic_version' "
                                   "AND c.relrowsecurity AND c.relforcerowsecurity")).scalar()
    assert owners == {schema.OWNER_ROLE}
    assert forced == len(schema.metadata.sorted_tables)
