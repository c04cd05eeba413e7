# The two commands a new user needs: `make run` (demo) and `make test` (everything).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
STAMP := $(VENV)/.installed
# The browser tests drive Debian's Chromium (Playwright never downloads its own).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test bench lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,dev]"
	touch $(STAMP)

# Installed once, from Debian's archive, when missing; a failed install stops `make test`.
$(CHROMIUM):
	@echo "Installing Debian's chromium for the browser tests (apt-get, may ask for sudo)..."
	@command -v apt-get >/dev/null || { echo "error: $(CHROMIUM) is missing and apt-get is not available: install Chromium at $(CHROMIUM) to run the browser tests" >&2; exit 1; }
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
	@test -x $(CHROMIUM) || { echo "error: apt-get install chromium did not provide $(CHROMIUM)" >&2; exit 1; }

## run: install, migrate, seed a demo and start every Procfile process on $(PORT)
run: $(STAMP)
	DEBUG=true $(PY) manage.py migrate --noinput
	DEBUG=true $(PY) manage.py seed_demo
	DEBUG=true PORT=$(PORT) $(PY) -m handoff.devtools.run_demo

## test: install what the tests need (Python packages, Debian's chromium) and run them all
test: $(STAMP) $(CHROMIUM)
	$(PY) -m pytest

## bench: measure the webhook against a bare Django view on the same server
bench: $(STAMP)
	$(PY) -m handoff.devtools.bench

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) handoff.sqlite3* .test-db.sqlite3* test-artifacts
