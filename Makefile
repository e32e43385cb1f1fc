# codecbench set-up: `make run` runs the embedded default job, `make test` runs the tests.
# Both create .venv and install what they need (Debian packages through scripts/install-system-deps).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# constraints.txt pins torch to the CPU build available here; change it for a GPU machine.
STAMP := $(VENV)/.installed
# Test-only reference implementations for the parity tests (tests/test_parity_*.py), installed without
# their dependencies into a folder the tests put on sys.path (never imported by codecbench itself).
# They pin torch/torchaudio versions we do not use; tests/parity_stubs/ stands in for torchaudio,
# audiotools and argbind (see tests/parity_refs.py).
PARITY_REFS ?= .parity-refs
PARITY_PKGS := encodec==0.1.1 descript-audio-codec==1.0.0 moshi==0.2.13 sentencepiece==0.2.1 \
	speechbrain==1.1.2 hyperpyyaml==1.2.3 ruamel.yaml==0.18.10

.PHONY: run test parity-refs lint bench bench-smoke system-deps clean

$(STAMP): pyproject.toml constraints.txt
	./scripts/install-system-deps
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e '.[all,dev,ray,datasets,lhotse,trackers]'
	touch $(STAMP)

$(PARITY_REFS)/.installed: Makefile | $(STAMP)
	rm -rf $(PARITY_REFS)
	$(PIP) install -q --no-deps --target $(PARITY_REFS) $(PARITY_PKGS)
	rm -rf $(PARITY_REFS)/tests $(PARITY_REFS)/bin
	touch $@

parity-refs: $(PARITY_REFS)/.installed

run: $(STAMP)
	$(VENV)/bin/codecbench run

# CI (.ci/run) sets CODECBENCH_STRICT=1: any skip other than "../shared is absent" fails (tests/conftest.py),
# and the benchmark scripts are smoke-tested on a tiny input.
test: $(STAMP) $(PARITY_REFS)/.installed
	WITH_BROWSER=1 ./scripts/install-system-deps
	if [ "$${CODECBENCH_STRICT:-0}" != 0 ]; then $(MAKE) bench-smoke; fi
	CODECBENCH_PARITY_REFS=$(abspath $(PARITY_REFS)) $(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check codecbench tests bench scripts

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
	rm -rf $(VENV) $(PARITY_REFS) .pytest_cache
