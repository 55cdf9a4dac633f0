# Two commands from a fresh clone: `make run` (Warden on the embedded stack) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml setup.py | cksum | cut -d' ' -f1)
COMPILED := $(VENV)/.compiled
SOURCES := $(shell find proxy -name '*.py')

.PHONY: run test lint bench install compile clean

# The dependencies, with Warden from source; $(COMPILED) then compiles it.
$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	WARDEN_COMPILE=0 $(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# The request path compiled to C with mypyc (setup.py), again after any source changed, so
# `make run` and `make test` run what ships. WARDEN_COMPILE=0 runs everything from source.
$(COMPILED): $(STAMP) $(SOURCES)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(COMPILED)

compile: $(COMPILED)

# promtool (Debian's prometheus package, unpacked, not installed) checks the exposition and
# the alert rules in the tests.
$(BIN)/promtool: | $(STAMP)
	@tmp=$$(mktemp -d) && cd $$tmp && \
	{ apt-get download prometheus >/dev/null 2>&1 || \
	  { apt-get update -qq >/dev/null && apt-get download prometheus >/dev/null; }; } && \
	dpkg -x prometheus_*.deb unpacked && cp unpacked/usr/bin/promtool $(abspath $(BIN))/promtool; \
	status=$$?; rm -rf $$tmp; exit $$status

install: $(STAMP) $(BIN)/promtool

run: $(COMPILED)
	$(BIN)/warden dev

test: install $(COMPILED)
	WARDEN_EXPECT_COMPILED=$(if $(filter 0,$(WARDEN_COMPILE)),0,1) $(BIN)/python -m pytest
	$(MAKE) --no-print-directory lint

lint: $(STAMP)
	$(BIN)/ruff check proxy tests bench
	$(BIN)/ruff format --check proxy tests bench
	$(BIN)/mypy

bench: $(COMPILED)
	$(BIN)/python -m bench.load

clean:
	rm -rf $(VENV) .warden .pytest_cache .mypy_cache .ruff_cache build
	find proxy -name '*.so' -delete
	rm -f proxy/compiled.json
