"""``python -m controller.config --write``: regenerate config/kunci.example.toml and docs/configuration.md."""

import sys

from controller.config import _main

sys.exit(_main(sys.argv[1:]))
