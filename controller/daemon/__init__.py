"""The door daemon: the loop that owns state, the relay and the store session; access decisions,
the journal, hardware wiring, control commands, clock trust, systemd notification."""
