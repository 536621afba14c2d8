"""Hardware behind small interfaces: keypads, fingerprint sensor, door I/O, and opt-in simulators."""
