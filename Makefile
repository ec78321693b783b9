# PTAP: the two commands are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
export PTAP_DATABASE_URL ?=

.PHONY: run test install lint typecheck pytest pdf-deps browser-deps schematron-venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[test,prod]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# The Schematron cross-checks compare our compiler with two independent implementations: the ISO
# Schematron skeleton (inside lxml's wheel, installed by `install`; run on Saxon, all four ANS
# schematrons: tests/dmp_bridge/test_schematron_skeleton_crosscheck.py) and
# pyschematron, the independent Schematron implementation the cross-check test compares ours with
# (tests/dmp_bridge/test_schematron_crosscheck.py), needs Python >= 3.12: its own virtualenv.
# Without python3.12 the test skips locally and fails in CI.
SCH_VENV := .venv-schematron
SCH_REQUIREMENTS := tests/dmp_bridge/pyschematron-requirements.txt
SCH_STAMP := $(SCH_VENV)/.installed-$(shell cat $(SCH_REQUIREMENTS) | sha1sum | cut -c1-12)
# The first python3.12 that runs (a pyenv shim may exist without a selected 3.12 behind it).
PYTHON312 ?= $(shell for p in $$(command -v python3.12) /root/.pyenv/versions/3.12*/bin/python3.12; do \
	"$$p" -c "" 2>/dev/null && echo "$$p" && break; done)

$(SCH_STAMP): $(SCH_REQUIREMENTS)
	@if [ -z "$(PYTHON312)" ]; then \
		echo "note: no python3.12, the pyschematron cross-check will skip (and fail in CI)"; \
	else \
		$(PYTHON312) -m venv $(SCH_VENV) \
		&& $(SCH_VENV)/bin/pip install --quiet -r $(SCH_REQUIREMENTS) \
		&& rm -f $(SCH_VENV)/.installed-* && touch $(SCH_STAMP); \
	fi

schematron-venv: $(SCH_STAMP)

## make run: virtualenv, install, migrate the SQLite database, demo data, serve on :5000
## (with the DMP simulator on :5900, where the bridge files documents by default, and the SMTP
## sink on :2525, where e-mail goes by default: each message lands in instance/mail/*.eml)
run: install pdf-deps
	$(BIN)/ptap db upgrade
	$(BIN)/ptap demo
	@mkdir -p instance/mail
	$(BIN)/ptap dmp-simulator --port 5900 --store instance/dmp-simulator.json & sim=$$!; \
	$(BIN)/ptap mail-sink --port 2525 --dir instance/mail & sink=$$!; \
	trap 'kill $$sim $$sink 2>/dev/null' EXIT INT TERM; \
	$(BIN)/ptap run --host 127.0.0.1 --port 5000

## make test: lint, types, import layers, then the whole pytest suite
test: install browser-deps schematron-venv lint typecheck pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

pytest: install schematron-venv
	$(BIN)/pytest -q

# WeasyPrint (PDF/A documents) needs Pango and HarfBuzz's subsetter; browser tests drive Debian's
# chromium (never `playwright install`). Installed when missing and we are root with apt;
# otherwise the browser tests skip locally and fail in CI.
pdf-deps:
	@if ! ldconfig -p | grep -q libharfbuzz-subset.so.0 \
		&& [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core >/dev/null; \
	fi

browser-deps: pdf-deps
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
			fonts-dejavu-core >/dev/null; \
	fi

clean:
	rm -rf $(VENV) $(SCH_VENV) .pytest_cache .mypy_cache .ruff_cache
