"""Pure door logic: access policy, PIN entry, lockout, door state. No I/O, no clock reads."""
