"""Kunci door controller: daemon, policy, storage, audit chain and CLI."""

__version__ = "0.1.0"
