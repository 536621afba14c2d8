"""Layout of the data directory ``DATA`` (docs/internals.md "Data directory").

``DATA`` comes from ``--data``, else the ``KUNCI_DATA`` environment variable,
else ``/var/lib/kunci`` (``kunci demo`` uses ``./kunci-demo``)::

    DATA/kunci.toml          configuration (created by ``kunci init`` when absent)
    DATA/kunci.db            SQLite database (unless ``store.url`` names another)
    DATA/secrets/            0700: pepper, audit.key (0600 each)
    DATA/run/control.sock    the daemon's control socket (0660)
    DATA/sim/                simulated sensor flash (simulation only)
    DATA/tls/                web certificate and key
    DATA/anchor/heads        chain heads kept outside the database (controller/store/anchor.py)
    DATA/run/unstored-events.jsonl  events the daemon could not store before an orderly stop
    DATA/web/                0750, owned by the admin web's account: web.db 0640 (its sessions, login throttle)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = Path("/var/lib/kunci")
DEMO_DATA_DIR = Path("kunci-demo")
ENV_VAR = "KUNCI_DATA"


@dataclass(frozen=True)
class DataDir:
    """Paths inside one data directory. Pure: constructing it touches no file."""

    root: Path

    @classmethod
    def resolve(cls, cli_value: str | os.PathLike[str] | None, *, default: Path = DEFAULT_DATA_DIR) -> "DataDir":
        """Pick the directory from the CLI option, then ``KUNCI_DATA``, then ``default``."""
        raw = cli_value if cli_value is not None else os.environ.get(ENV_VAR) or default
        return cls(Path(raw).expanduser().absolute())

    @property
    def config_file(self) -> Path:
        return self.root / "kunci.toml"

    @property
    def db_file(self) -> Path:
        return self.root / "kunci.db"

    @property
    def default_db_url(self) -> str:
        return f"sqlite:///{self.db_file}"

    @property
    def secrets_dir(self) -> Path:
        return self.root / "secrets"

    @property
    def pepper_file(self) -> Path:
        return self.secrets_dir / "pepper"

    @property
    def audit_key_file(self) -> Path:
        return self.secrets_dir / "audit.key"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def socket_path(self) -> Path:
        return self.run_dir / "control.sock"

    @property
    def daemon_lock_file(self) -> Path:
        return self.run_dir / "daemon.lock"

    @property
    def anchor_dir(self) -> Path:
        return self.root / "anchor"

    @property
    def anchor_file(self) -> Path:
        return self.anchor_dir / "heads"

    @property
    def unstored_events_file(self) -> Path:
        return self.run_dir / "unstored-events.jsonl"

    def initialised(self) -> bool:
        """True if ``kunci init`` has run here before (secrets or an anchor file exist): a missing or
        empty database is then a loss to restore from a backup, never a new installation."""
        anchor = self.anchor_file
        try:
            return (self.secrets_dir.exists() or self.anchor_dir.exists() or anchor.exists()
                    or anchor.with_name(anchor.name + ".1").exists())
        except OSError:  # cannot look (permissions): assume it was, so nothing is created over a loss
            return True

    @property
    def sim_dir(self) -> Path:
        return self.root / "sim"

    @property
    def tls_dir(self) -> Path:
        return self.root / "tls"

    @property
    def tls_cert_file(self) -> Path:
        return self.tls_dir / "cert.pem"

    @property
    def tls_key_file(self) -> Path:
        return self.tls_dir / "key.pem"

    @property
    def web_dir(self) -> Path:
        """The admin web's own directory (0750, owned by the web's account, read by the daemon through the group)."""
        return self.root / "web"

    @property
    def web_db_file(self) -> Path:
        """The admin web's own SQLite database: sessions and login throttle (:mod:`controller.store.web_store`)."""
        return self.web_dir / "web.db"
