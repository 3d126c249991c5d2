# Two entry points for a new user: `make demo` (the main job on the embedded synthetic ocean)
# and `make test` (the test suite). Each creates the virtual environment it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= demo-output

.PHONY: demo test bench lint venv clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,train]"
	touch $@

venv: $(BIN)/.installed

demo: venv
	$(BIN)/varnet-osse generate --config configs/osse-default.toml --out $(OUT)/osse

test: venv
	$(BIN)/ruff check varnet tests benchmarks
	$(BIN)/python -m pytest -q

bench: venv
	for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

lint: venv
	$(BIN)/ruff check varnet tests benchmarks

clean:
	rm -rf $(VENV) $(OUT)
