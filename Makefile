# codecbench set-up: `make run` runs the embedded default job, `make test` runs the tests.
# Both create .venv and install what they need (Debian packages through scripts/install-system-deps).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# constraints.txt pins torch to the CPU build available here; change it for a GPU machine.
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-smoke system-deps clean

$(STAMP): pyproject.toml constraints.txt
	./scripts/install-system-deps
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e '.[all,dev,ray]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/codecbench run

# CI (.ci/run) sets CODECBENCH_STRICT=1: any skip other than "../shared is absent" fails (tests/conftest.py),
# and the benchmark scripts are smoke-tested on a tiny input.
test: $(STAMP)
	WITH_BROWSER=1 ./scripts/install-system-deps
	if [ "$${CODECBENCH_STRICT:-0}" != 0 ]; then $(MAKE) bench-smoke; fi
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check codecbench tests bench

bench: $(STAMP)
	PYTHONPATH=. $(PY) bench/overhead.py
	PYTHONPATH=. $(PY) bench/codec_rtf.py

# every bench script on a tiny input (about a minute): they run, and print medians of >= 3 repeats
bench-smoke: $(STAMP)
	PYTHONPATH=. $(PY) bench/overhead.py --synthetic 2 --repeats 3
	PYTHONPATH=. $(PY) bench/codec_rtf.py --codecs opus-6kbps,ours-fsq,dac-16k --batch-sizes 1,2 --seconds 0.3 --size small --repeats 3
	if [ -d ../shared/testdata ]; then PYTHONPATH=. $(PY) bench/inhouse_vs_opus.py --limit 2 --curve 1 && \
	PYTHONPATH=. $(PY) bench/inhouse_conditions.py --sets hi,en --conditions clean,lowpass-4000,mulaw-8k --limit 2 \
	  --codecs ours-rvq,ours-vae,opus-6kbps; \
	else echo "bench-smoke: ../shared is absent, bench/inhouse_vs_opus.py and inhouse_conditions.py not run"; fi

clean:
	rm -rf $(VENV) .pytest_cache
