"""Admin web page (Flask). Never imports ``drivers``; talks to the daemon over its control socket."""
