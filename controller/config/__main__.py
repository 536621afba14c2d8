"""``python -m controller.config --write``: regenerate config/kunci.example.toml and docs/configuration.md."""

import sys

from controller.config.reference import main

sys.exit(main(sys.argv[1:]))
