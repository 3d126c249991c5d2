# Two entry points for a new user: `make demo` (the main job on the embedded synthetic ocean)
# and `make test` (the test suite). Each creates the virtual environment it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= demo-output

# The shipped demo models (models/demo/): the four demo configurations trained on the default
# synthetic ocean, then the paper's table of the four against the geostrophic baselines.
DEMO_CONFIGS := demo demo-4dvarnet-ssh demo-direct-ssh-sst demo-direct-ssh

.PHONY: demo demo-models test bench lint venv clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,train,export,ops,dist]"
	touch $@

venv: $(BIN)/.installed

$(OUT)/osse/truth.nc: | venv
	$(BIN)/varnet-osse generate --config configs/osse-default.toml --out $(OUT)/osse

demo: venv
	$(BIN)/varnet-osse generate --config configs/osse-default.toml --out $(OUT)/osse

demo-models: venv $(OUT)/osse/truth.nc
	mkdir -p models/demo
	for name in $(DEMO_CONFIGS); do \
	  rm -rf runs/$$name; \
	  $(BIN)/varnet-train --config configs/$$name.toml --run-dir runs/$$name || exit 1; \
	  cp runs/$$name/checkpoints/best.pt models/demo/$$name.pt; \
	  cp runs/$$name/log.csv models/demo/$$name.log.csv; \
	done
	$(BIN)/varnet-train evaluate models/demo --out models/demo/evaluation

test: venv
	$(BIN)/ruff check varnet tests benchmarks
	$(BIN)/python -m pytest -q

bench: venv
	for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

lint: venv
	$(BIN)/ruff check varnet tests benchmarks

clean:
	rm -rf $(VENV) $(OUT)
