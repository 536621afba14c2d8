"""The site: many controllers, one PostgreSQL database (docs/site.md).

A layer beside ``ops`` (``cli > ops > daemon > site > alerts > control > store > core``): it may import the store,
core and config. ``schema`` (the tables), ``migrations`` (Alembic, schema ``kunci``), ``siteconf`` (SITE DIR and
its connection), ``service`` (every site write: one transaction, the feed), ``feed`` (what each controller
sees), ``roles`` (controller roles), ``bundle`` and ``join`` (a controller joins), ``verify`` (uploaded chains).
The daemon imports ``controller.site.link`` only; the web ``service`` and ``schema``.
"""
