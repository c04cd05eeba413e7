# The two commands a new user needs: `make run` (demo) and `make test` (everything).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: run test bench lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,dev]"
	touch $(STAMP)

## run: install, migrate, seed a demo and start every Procfile process on $(PORT)
run: $(STAMP)
	DEBUG=true $(PY) manage.py migrate --noinput
	DEBUG=true $(PY) manage.py seed_demo
	DEBUG=true PORT=$(PORT) $(PY) -m handoff.devtools.run_demo

## test: install what the tests need and run them all
test: $(STAMP)
	$(PY) -m pytest

## bench: measure the webhook against a bare Django view on the same server
bench: $(STAMP)
	$(PY) -m handoff.devtools.bench

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) handoff.sqlite3* .test-db.sqlite3* test-artifacts
