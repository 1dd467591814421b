# Two commands matter: `make run` and `make test`. Everything else supports them.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run serve test check install install-test translations extract-messages db services chromium lint bench wrk clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

translations: | $(BIN)/python
	$(BIN)/pybabel compile --statistics -d translations

extract-messages: install
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output -k _l -k lazy_gettext --project portal -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete

db: install translations
	$(FLASK) init-db
	$(FLASK) seed-demo --if-empty --with-tasks
	$(FLASK) create-staff dpo@example.com --role dpo

run: db
	@echo
	@echo "  The portal runs at http://$(HOST):$(PORT)  (stop it with Ctrl+C)"
	@echo
	$(FLASK) run --host $(HOST) --port $(PORT)

# Production-like serving: gunicorn (gunicorn.conf.py) and the outbox worker beside it. Set PORTAL_ENV,
# PORTAL_DATABASE_URL (PostgreSQL), PORTAL_SECRET_KEY, PORTAL_BASE_URL (https), PORTAL_SMTP_URL and
# PORTAL_RATELIMIT_STORAGE_URI (Redis) first; see docs/deployment.md.
serve: install translations
	$(FLASK) init-db
	@$(FLASK) send-mail --loop & mail=$$!; $(FLASK) deliver-events --loop & events=$$!; \
	  trap "kill $$mail $$events 2>/dev/null" EXIT; \
	  $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

chromium:
	@command -v chromium >/dev/null || { echo "Installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@test -x /usr/bin/chromium || { echo "chromium is required at /usr/bin/chromium"; exit 1; }

services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || { echo "Starting PostgreSQL"; \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start; }
	@for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; \
	  pg_isready -q -h 127.0.0.1 -p 5432 || { echo "PostgreSQL does not answer on 127.0.0.1:5432"; exit 1; }
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || { echo "Starting Redis"; \
	  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
	    --dir /tmp --logfile /tmp/portal-redis.log; sleep 1; }
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null || { echo "Redis does not answer on 127.0.0.1:6379"; exit 1; }

# Static checks that gate the tests: ruff over the code and the tests, bandit over the product code. Every
# bandit finding is fixed or explained where it is (`# nosec BXXX  # why`), or skipped with its reason in
# pyproject.toml ([tool.bandit]).
check: install-test
	$(BIN)/ruff check portal tests bench tools
	$(BIN)/bandit -q -r portal -c pyproject.toml

test: install-test translations chromium services check
	$(BIN)/python -m pytest
	PORTAL_TEST_DATABASE_URL=$(PG_URL) $(BIN)/python -m pytest

# The property tests exploring: random seeds and 500 examples a test, where `make test` draws the same 30 on
# every run (the "fuzz" and "ci" profiles, tests/property/conftest.py); on SQLite, then on PostgreSQL. Not part
# of `make test`: it takes a while, and what it finds is pinned down as a test of its own before it is fixed.
.PHONY: fuzz
fuzz: install-test translations services
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest tests/property
	HYPOTHESIS_PROFILE=fuzz PORTAL_TEST_DATABASE_URL=$(PG_URL) $(BIN)/python -m pytest tests/property

lint: install-test
	$(BIN)/ruff check portal tests bench tools
	$(BIN)/mypy

wrk:
	@command -v wrk >/dev/null || { echo "Installing Debian's wrk for the page benchmarks"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	@command -v wrk >/dev/null || { echo "wrk is required for bench/signin_wave.py and bench/staff_queue.py"; exit 1; }

# Every benchmark in turn, then one table of what each judged (bench/run.py). A benchmark that fails to run
# makes the target fail, after the table; a missed goal is a FAIL in it.
BENCHMARKS ?=
bench: install-test translations services wrk
	$(BIN)/python bench/run.py $(BENCHMARKS)

clean:
	rm -rf $(VENV) instance/*.sqlite3* .pytest_cache
