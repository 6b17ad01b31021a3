# Sluice: `make run` serves on port 8000, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What is installed: the runtime (+ the embedded database) for `make run`, and the
# development tools on top of it for everything else.
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev
# The benchmark's peer (Celery) on top of the development tools, for `make bench` only.
BENCH_DEPS := $(VENV)/.installed-bench
# The unmodified pyaqueduct client of the contract tests, in a venv of its own: it pins
# httpx<0.25, which Sluice (httpx>=0.27) cannot share. It needs Python <= 3.11.
PYAQUEDUCT := $(VENV)/pyaqueduct
PYAQUEDUCT_REQUIREMENTS := tests/contract/pyaqueduct-requirements.txt

.PHONY: install run test fuzz lint fmt bench schemas clean

install: $(DEV) $(PYAQUEDUCT)/.installed

$(RUNTIME): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[embedded]'
	touch $(RUNTIME)

$(DEV): $(RUNTIME)
	$(BIN)/python -m pip install --quiet -e '.[embedded,dev]'
	touch $(DEV)

$(BENCH_DEPS): $(DEV)
	$(BIN)/python -m pip install --quiet -e '.[embedded,dev,bench]'
	touch $(BENCH_DEPS)

$(PYAQUEDUCT)/.installed: $(PYAQUEDUCT_REQUIREMENTS) $(RUNTIME)
	test -x $(PYAQUEDUCT)/bin/python || $(PYTHON) -m venv $(PYAQUEDUCT)
	$(PYAQUEDUCT)/bin/python -m pip install --quiet -r $(PYAQUEDUCT_REQUIREMENTS)
	touch $@

# Starts the embedded database (data in ./var/db) unless MONGODB_URI is set.
run: $(RUNTIME)
	$(BIN)/python -m service

# pytest exits 5 when it collected no tests: that is a failure, never green.
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: no tests ran" >&2; exit 1; fi; \
	exit $$status

# A longer schemathesis run than the one in `make test`, with a fresh seed each time;
# scale with FUZZ_EXAMPLES (generated cases per operation and mode).
FUZZ_EXAMPLES ?= 200
fuzz: install
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_SEED=$${FUZZ_SEED:-$$(date +%s)} \
		$(BIN)/python -m pytest tests/fuzz -s $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install $(BENCH_DEPS)
	$(BIN)/python -m bench

schemas: install
	$(BIN)/python -m schemas

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
