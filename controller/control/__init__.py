"""The control socket: server (peer-authenticated), client, actor resolution, and the CLI's change path."""
