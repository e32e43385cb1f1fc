# codecbench set-up: `make run` runs the embedded default job, `make test` runs the tests.
# Both create .venv and install what they need (Debian packages through scripts/install-system-deps).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# constraints.txt pins torch to the CPU build available here; change it for a GPU machine.
STAMP := $(VENV)/.installed

.PHONY: run test lint bench system-deps clean

$(STAMP): pyproject.toml constraints.txt
	./scripts/install-system-deps
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e '.[all,dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/codecbench run

test: $(STAMP)
	WITH_BROWSER=1 ./scripts/install-system-deps
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check codecbench tests bench

bench: $(STAMP)
	$(PY) bench/overhead.py

clean:
	rm -rf $(VENV) .pytest_cache
