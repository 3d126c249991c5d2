# Two entry points for a new user: `make demo` (the main job on the embedded synthetic ocean)
# and `make test` (the test suite). Each creates the virtual environment it needs. A third,
# `make test-ops`, tests the operations host as it is installed (no torch) in its own one.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OPS_VENV ?= .venv-ops
OPS_BIN := $(OPS_VENV)/bin
OUT ?= demo-output

# The shipped demo models (models/demo/): the four demo configurations trained on the default
# synthetic ocean, then the paper's table of the four against the geostrophic baselines, then
# the operations model models/demo/demo.onnx exported (and verified) from demo.pt.
DEMO_CONFIGS := demo demo-4dvarnet-ssh demo-direct-ssh-sst demo-direct-ssh

.PHONY: demo demo-models heldback test test-fast test-ops bench lint venv clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,train,export,ops,dist,drift]"
	touch $@

venv: $(BIN)/.installed

$(OUT)/osse/truth.nc: | venv
	$(BIN)/varnet-osse generate --config configs/osse-default.toml --out $(OUT)/osse

# The main job on the embedded default: the synthetic ocean, its files fed through the
# operations inbox, the test period reprocessed with the shipped model (ONNX Runtime), and the
# products scored against the truth beside the model's own evaluation. Operations state and
# products are made afresh each time under $(OUT)/ops (configs/ops-demo.toml).
TEST_START := 2012-10-22
TEST_END := 2012-12-02

demo: venv $(OUT)/osse/truth.nc
	rm -rf $(OUT)/ops
	$(BIN)/varnet-ops init --config configs/ops-demo.toml
	cp $(OUT)/osse/alongtrack/*.nc $(OUT)/osse/sst/l4/*.nc $(OUT)/ops/inbox/
	$(BIN)/varnet-ops ingest --config configs/ops-demo.toml --quiet
	$(BIN)/varnet-ops reprocess --config configs/ops-demo.toml --start $(TEST_START) \
	  --end $(TEST_END) --production-day 2013-01-01 --workers 2 --quiet
	$(BIN)/varnet-ops score --config configs/ops-demo.toml --truth $(OUT)/osse/truth.nc \
	  --start $(TEST_START) --end $(TEST_END) --reference models/demo/evaluation/scores.csv
	@echo "products and quicklooks (PNG): $(OUT)/ops/products; newest issue of each day: $(OUT)/ops/products/latest"

# A run that reaches its time budget (optim.max_minutes) before its last epoch, on a slower or
# busy machine, is resumed (bit-identical to an uninterrupted run) until it has all its epochs.
demo-models: venv $(OUT)/osse/truth.nc
	mkdir -p models/demo
	for name in $(DEMO_CONFIGS); do \
	  rm -rf runs/$$name; \
	  epochs=$$(sed -n 's/^epochs = \([0-9]*\).*/\1/p' configs/$$name.toml); \
	  $(BIN)/varnet-train --config configs/$$name.toml --run-dir runs/$$name || exit 1; \
	  while [ $$(($$(wc -l < runs/$$name/log.csv) - 1)) -lt $$epochs ]; do \
	    $(BIN)/varnet-train --config configs/$$name.toml --run-dir runs/$$name --resume || exit 1; \
	  done; \
	  cp runs/$$name/checkpoints/best.pt models/demo/$$name.pt; \
	  cp runs/$$name/log.csv models/demo/$$name.log.csv; \
	done
	$(BIN)/varnet-train evaluate models/demo --out models/demo/evaluation
	$(BIN)/varnet-export models/demo/demo.pt -o models/demo/demo.onnx

# The shipped demo models on two held-back oceans (other seeds: other flow, noise, clouds);
# each ocean needs its own spin-up (~6 min) and generation (~14 min).
HELDBACK_SEEDS := 7 11

heldback: venv
	for seed in $(HELDBACK_SEEDS); do \
	  mkdir -p $(OUT)/heldback-$$seed; \
	  $(BIN)/varnet-osse spinup --config configs/osse-heldback-$$seed.toml \
	    --out $(OUT)/heldback-$$seed/state.npz || exit 1; \
	  $(BIN)/varnet-osse generate --config configs/osse-heldback-$$seed.toml \
	    --out $(OUT)/heldback-$$seed --quiet || exit 1; \
	  $(BIN)/varnet-train evaluate models/demo --osse $(OUT)/heldback-$$seed \
	    --out models/demo/evaluation/heldback-$$seed || exit 1; \
	done

test: venv
	$(BIN)/ruff check varnet tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -m "not soak" --durations=15

# The fast tier for daily work: everything but the tests marked slow (torch training and
# export end to end, the operations soak test).
test-fast: venv
	$(BIN)/ruff check varnet tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -m "not slow"

# The operations host as it is installed, `pip install 'varnet[ops]'` (no torch), with the
# test tools (`dev`), in its own environment: every test but those marked torch (training,
# export, the PyTorch parity of the product), slow ones included. It refuses to run where
# torch is installed, and a test skipped for want of torch fails it (--no-torch-skips).
$(OPS_BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(OPS_VENV)
	$(OPS_BIN)/pip install --quiet --upgrade pip
	$(OPS_BIN)/pip install --quiet -e ".[ops,dev]"
	touch $@

test-ops: $(OPS_BIN)/.installed
	@$(OPS_BIN)/python -c "import importlib.util as u, sys; sys.exit(u.find_spec('torch') \
	  and 'torch is installed in $(OPS_VENV), so it is no operations host: remove it')"
	$(OPS_BIN)/python -m pytest -q -m "not torch" --no-torch-skips --durations=15

bench: venv
	for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

lint: venv
	$(BIN)/ruff check varnet tests benchmarks
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(OPS_VENV) $(OUT)
