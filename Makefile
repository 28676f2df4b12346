# Two commands for a newcomer: `make run` (the product, embedded defaults) and `make test` (the suite).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
ADDR ?= 127.0.0.1:8000
# The suite runs twice: on SQLite (the embedded default) and on PostgreSQL (the production path).
TEST_PG_URL ?= postgres://postgres@127.0.0.1:5432/scheduler
TEST_DATA ?= /tmp/scheduler-test-data
PYTEST_ARGS ?=

.PHONY: run serve test lint format services browser venv runtime clean

# What the product needs to run (make run, make serve): requirements.txt only.
$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# The test and lint tools on top (make test, make lint, make format).
$(VENV)/.installed: $(VENV)/.runtime requirements-dev.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

runtime: $(VENV)/.runtime
venv: $(VENV)/.installed

run: runtime
	$(PY) manage.py migrate --noinput
	@# Keeps STATIC_ROOT in step with the code (a manifest left by `make serve` would name older files).
	$(PY) manage.py collectstatic --noinput -v 0
	$(PY) manage.py seed_demo
	@# The qcluster gets a session of its own: Ctrl-C reaches only its main process (as SIGTERM, from the
	@# trap), which stops the dispatcher and lets the workers finish their runs. Once both answer, the
	@# admin's URL, user and password are printed last, in a box (and kept in $$DATA_DIR/demo-credentials.txt).
	@setsid $(PY) manage.py qcluster & worker=$$!; \
		$(PY) manage.py runserver --insecure --noreload $(ADDR) & web=$$!; \
		trap 'kill -TERM $$worker $$web 2>/dev/null; wait $$worker $$web; exit 0' INT TERM; \
		$(PY) manage.py demo_banner --url http://$(ADDR)/admin/ || true; \
		wait -n $$worker $$web; kill -TERM $$worker $$web 2>/dev/null; wait $$worker $$web

# What production runs (deploy/Procfile: release, web, worker), on whatever the environment configures:
# migrate, collect the static files, then gunicorn and a qcluster side by side. Ctrl-C stops both.
serve: runtime
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v 0
	@echo "gunicorn (deploy/gunicorn.conf.py: PORT or 127.0.0.1:8000) and a qcluster; Ctrl-C stops both."
	@setsid $(PY) manage.py qcluster & worker=$$!; \
		$(VENV)/bin/gunicorn --config deploy/gunicorn.conf.py & web=$$!; \
		trap 'kill -TERM $$worker $$web 2>/dev/null; wait $$worker $$web; exit 0' INT TERM; \
		wait -n $$worker $$web; kill -TERM $$worker $$web 2>/dev/null; wait $$worker $$web

services:
	@.ci/services

browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: venv services browser lint
	$(PY) manage.py makemigrations --check --dry-run
	rm -rf $(TEST_DATA) && mkdir -p $(TEST_DATA)/sqlite $(TEST_DATA)/postgres
	DATA_DIR=$(TEST_DATA)/sqlite $(VENV)/bin/pytest $(PYTEST_ARGS)
	DATA_DIR=$(TEST_DATA)/postgres DATABASE_URL=$(TEST_PG_URL) $(VENV)/bin/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var $(TEST_DATA) test-artifacts
