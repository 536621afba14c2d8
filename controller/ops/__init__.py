"""Operations: backups, archives, TLS certificate, service installation, doctor."""
