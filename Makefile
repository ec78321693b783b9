# PTAP: the two commands are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
export PTAP_DATABASE_URL ?=

.PHONY: run test install lint typecheck pytest pdf-deps browser-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[test,prod]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

## make run: virtualenv, install, migrate the SQLite database, demo data, serve on :5000
## (with the DMP simulator on :5900, where the bridge files documents by default)
run: install pdf-deps
	$(BIN)/ptap db upgrade
	$(BIN)/ptap demo
	@mkdir -p instance
	$(BIN)/ptap dmp-simulator --port 5900 --store instance/dmp-simulator.json & sim=$$!; \
	trap 'kill $$sim 2>/dev/null' EXIT INT TERM; \
	$(BIN)/ptap run --host 127.0.0.1 --port 5000

## make test: lint, types, import layers, then the whole pytest suite
test: install browser-deps lint typecheck pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

pytest: install
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
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
