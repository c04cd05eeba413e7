# The two commands a new user needs: `make run` (demo) and `make test` (everything).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
STAMP := $(VENV)/.installed
LOCK := requirements.lock
# pip-tools lives in its own throwaway venv: a tool for `make lock`, not a dependency.
LOCK_TOOLS := .lock-tools
# The browser tests drive Debian's Chromium (Playwright never downloads its own).
CHROMIUM := /usr/bin/chromium
# tests/test_nginx.py runs Debian's nginx with deploy/nginx/handoff.conf in front of the app.
NGINX := /usr/sbin/nginx
# tests/test_a11y.py injects axe-core (from npm, pinned by tests/a11y/package-lock.json).
A11Y := tests/a11y
A11Y_STAMP := $(A11Y)/node_modules/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# PostgreSQL's server and Redis, from Debian's archive, for test-scale and bench.
POSTGRES := $(firstword $(wildcard /usr/lib/postgresql/*/bin/postgres))
THROWAWAY := $(PY) -m tests.devtools.throwaway --

.PHONY: run test test-sqlite test-scale scale-services bench lint lock clean

# Exactly the versions in requirements.lock (hashes checked), the ones CI tested; then
# handoff itself, whose own ranges `pip check` holds the lock to.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m pip check
	touch $(STAMP)

## lock: re-resolve requirements.lock from pyproject.toml's ranges (UPGRADE=1: newest allowed)
lock:
	rm -rf $(LOCK_TOOLS) && $(PYTHON) -m venv $(LOCK_TOOLS)
	$(LOCK_TOOLS)/bin/pip install --quiet pip-tools
	$(LOCK_TOOLS)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
		--extra test --extra dev $(if $(UPGRADE),--upgrade) -o $(LOCK) pyproject.toml
	rm -rf $(LOCK_TOOLS)

# Installed once, from Debian's archive, when missing; a failed install stops `make test`.
$(CHROMIUM):
	@echo "Installing Debian's chromium for the browser tests (apt-get, may ask for sudo)..."
	@command -v apt-get >/dev/null || { echo "error: $(CHROMIUM) is missing and apt-get is not available: install Chromium at $(CHROMIUM) to run the browser tests" >&2; exit 1; }
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
	@test -x $(CHROMIUM) || { echo "error: apt-get install chromium did not provide $(CHROMIUM)" >&2; exit 1; }

$(NGINX):
	@echo "Installing Debian's nginx for the proxy tests (apt-get, may ask for sudo)..."
	@command -v apt-get >/dev/null || { echo "error: $(NGINX) is missing and apt-get is not available: install nginx to run the proxy tests" >&2; exit 1; }
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y nginx
	@test -x $(NGINX) || { echo "error: apt-get install nginx did not provide $(NGINX)" >&2; exit 1; }

# Exactly the axe-core that package-lock.json pins (integrity checked), no install scripts;
# again whenever the manifest or the lock changes. Without npm the tests cannot check
# accessibility, so `make test` stops here rather than skip them.
$(A11Y_STAMP): $(A11Y)/package.json $(A11Y)/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm is missing: install Node.js 20 or newer with npm to run the accessibility tests (tests/test_a11y.py), then run make test again" >&2; exit 1; }
	npm ci --prefix $(A11Y) --ignore-scripts --no-audit --no-fund
	touch $(A11Y_STAMP)

## run: install, migrate, seed a demo and start every Procfile process on $(PORT)
run: $(STAMP)
	DEBUG=true $(PY) manage.py migrate --noinput
	DEBUG=true $(PY) manage.py seed_demo
	DEBUG=true PORT=$(PORT) $(PY) -m tests.devtools.run_demo

## test: install what the tests need and run them all: on SQLite, then on PostgreSQL and Redis
test: test-sqlite test-scale

## test-sqlite: the whole suite on the default engines (SQLite, in-memory channel layer)
test-sqlite: $(STAMP) $(CHROMIUM) $(NGINX) $(A11Y_STAMP)
	$(PY) -m pytest -m "not scale"

## test-scale: the whole suite on throwaway PostgreSQL and Redis, then the multi-process tests
test-scale: $(STAMP) $(CHROMIUM) $(NGINX) $(A11Y_STAMP) scale-services
	$(THROWAWAY) $(PY) -m pytest -m "not scale"
	$(THROWAWAY) $(PY) -m pytest -m scale

## scale-services: install PostgreSQL's server and Redis from Debian's archive when missing
scale-services:
	@if [ -z "$(POSTGRES)" ] || ! command -v redis-server >/dev/null; then \
		command -v apt-get >/dev/null || { echo "error: PostgreSQL's server and redis-server are missing and apt-get is not available: install them to run test-scale" >&2; exit 1; }; \
		echo "Installing Debian's postgresql and redis-server for test-scale (apt-get, may ask for sudo)..."; \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql redis-server; \
	fi

## bench: measure the webhook against a bare Django view on the same server
bench: $(STAMP) scale-services
	$(PY) -m tests.devtools.bench

## lint: style (ruff) and the layers' import contracts (pyproject.toml, docs/architecture.md)
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) handoff.sqlite3* .test-db.sqlite3* test-artifacts $(A11Y)/node_modules
