# Kunci developer entry points. `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.kunci-installed

.PHONY: demo test faults venv bench bench-quick clean translations

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Kunci needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/kunci demo

# The suite runs on TEST_WORKERS pytest-xdist workers (4 by default, also on 2 cores: most tests wait on
# processes, sockets and the disk, not the CPU); TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 4

test: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

# The fault suite alone, with the full repetition counts used for docs/reliability.md
# (and 200 PIN grants in each end-to-end durability test, tests/e2e/; a 60 s login flood,
# tests/webadmin/test_web_login_flood.py).
faults: $(STAMP)
	KUNCI_FAULT_ROUNDS=200 KUNCI_E2E_GRANTS=200 KUNCI_FLOOD_SECONDS=60 $(PY) -m pytest -m faults -s -p no:cacheprovider --timeout=3600 $(PYTEST_ARGS)

# The benchmark suite (docs/performance.md): full run (~5 min) and the quick one (< 2 min).
bench: $(STAMP)
	$(PY) -m benchmarks $(BENCH_ARGS)

bench-quick: $(STAMP)
	$(PY) -m benchmarks --quick $(BENCH_ARGS)

# The Indonesian catalogue (controller/translations): extract the English msgids of the admin page and the CLI,
# merge them into messages.po (translate the new, empty entries there), compile messages.mo. Both are committed.
translations: $(STAMP)
	$(PY) -m controller.i18n_catalogue update

clean:
	rm -rf $(VENV) kunci-demo .pytest_cache
