# Two commands from a fresh clone: `make run` (Warden on the embedded stack) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test lint bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# promtool (Debian's prometheus package, unpacked, not installed) checks the exposition and
# the alert rules in the tests.
$(BIN)/promtool: | $(STAMP)
	@tmp=$$(mktemp -d) && cd $$tmp && \
	{ apt-get download prometheus >/dev/null 2>&1 || \
	  { apt-get update -qq >/dev/null && apt-get download prometheus >/dev/null; }; } && \
	dpkg -x prometheus_*.deb unpacked && cp unpacked/usr/bin/promtool $(abspath $(BIN))/promtool; \
	status=$$?; rm -rf $$tmp; exit $$status

install: $(STAMP) $(BIN)/promtool

run: $(STAMP)
	$(BIN)/warden dev

test: install
	$(BIN)/python -m pytest
	$(MAKE) --no-print-directory lint

lint: $(STAMP)
	$(BIN)/ruff check proxy tests bench
	$(BIN)/ruff format --check proxy tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench.load

clean:
	rm -rf $(VENV) .warden .pytest_cache .mypy_cache .ruff_cache
