# Two commands for a newcomer: `make demo` and `make test`. Both set everything up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.filmai-installed
PIP := $(BIN)/python -m pip
# bpy 5.0.1 pins numpy<2: every install goes through the constraints file.
PIP_INSTALL := $(PIP) install -q -c constraints.txt

.PHONY: install demo test check-install bench docs clean blender-extension

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	@# torch only where none is present: a user's CUDA build is kept.
	$(BIN)/python -c "import torch" 2>/dev/null || $(PIP_INSTALL) torch==2.13.0
	$(PIP_INSTALL) -e ".[test]"
	touch $(STAMP)

demo: install
	$(BIN)/filmai demo

test: install
	$(BIN)/python -m pytest -q

# Fresh venvs (no system site packages) with the core alone and with each extra, installed from the
# built package through constraints.txt, each smoke-tested: what `pip install filmai-plugins[...]` gives.
check-install:
	$(PYTHON) .ci/check_install.py

bench: install
	$(PIP_INSTALL) -e ".[test,bench]"
	$(BIN)/python bench/run_all.py

docs: install
	$(BIN)/filmai nodes --markdown --output docs/nodes.md

# The Blender 5.0 extension zip in dist/, built and validated by Blender's own extension tool.
blender-extension: install
	$(BIN)/filmai blender build-extension --output-dir dist

clean:
	rm -rf $(VENV) build dist *.egg-info demo-out
