"""The door database: models, migrations, the audit chain and its anchor, people, staff, PINs, secrets,
the admin operations, and the web's own session store."""
