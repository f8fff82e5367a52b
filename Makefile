# genlab: every target uses the project's own virtual environment in .venv
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PEERS_BIN := .venv-peers/bin

.PHONY: install train test test-unit test-full lint bench bench-peers clean

install:  ## create .venv and install genlab with all extras (offline but for package registries)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install -e '.[dev,loggers,cluster]'

train:  ## the embedded default: the VAE on sklearn digits, CPU
	$(BIN)/genlab-train

test:  ## the fast tests (under 10 minutes on 2 cores)
	$(BIN)/pytest -q

test-unit:  ## the tests that need no Trainer (under a minute)
	$(BIN)/pytest -q -m unit

lint:  ## the style the code is written in: ruff's checks and its formatter
	$(BIN)/ruff check src tests benchmarks experiments
	$(BIN)/ruff format --check src tests benchmarks experiments

test-full:  ## everything, the slow tests included
	$(BIN)/pytest -q -m ''

clean:
	rm -rf logs outputs multirun .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +

bench:  ## framework overhead, data pipeline, sampling and precision benchmarks (CPU, 12-25 min)
	cd benchmarks && ../$(BIN)/python overhead.py && ../$(BIN)/python sampling.py && ../$(BIN)/python precision.py && ../$(BIN)/python checkpointing.py
	cd benchmarks && ../$(BIN)/python overhead.py --data moons --batch 512 --families flow --steps 300 --name overhead_vectors
	cd benchmarks && ../$(BIN)/python overhead.py --data sines --batch 128 --families ar --steps 100 --name overhead_sequences
	cd benchmarks && ../$(BIN)/python overhead.py --data fortunes --batch 64 --families ar --steps 100 --name overhead_text
	cd benchmarks && ../$(BIN)/python ar_sampling.py

bench-peers:  ## quality per compute vs normflows, denoising-diffusion-pytorch, pythae, an uncached AR (Fashion-MNIST, ~1.5 h CPU), zuko (2-D)
	test -x $(PEERS_BIN)/python || ($(PY) -m venv .venv-peers && $(PEERS_BIN)/pip install --quiet -e '.[peers]')
	experiments/compare_families/run.sh fashion_mnist   # genlab's side (reused when already run)
	cd benchmarks && GENLAB_ROOT=$${GENLAB_ROOT:-$(CURDIR)/_study} ../$(PEERS_BIN)/python peers.py
	cd benchmarks && ../$(PEERS_BIN)/python peers_vectors.py   # 2-D flows vs zuko, 60 s each (~10 min)
