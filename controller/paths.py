"""Layout of the data directory ``DATA`` (DESIGN §7).

``DATA`` comes from ``--data``, else the ``KUNCI_DATA`` environment variable,
else ``/var/lib/kunci`` (``kunci demo`` uses ``./kunci-demo``)::

    DATA/kunci.toml          configuration (created by ``kunci init`` when absent)
    DATA/kunci.db            SQLite database (unless ``store.url`` names another)
    DATA/secrets/            0700: pepper, audit.key (0600 each)
    DATA/run/control.sock    the daemon's control socket (0660)
    DATA/sim/                simulated sensor flash (simulation only)
    DATA/tls/                web certificate and key
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
