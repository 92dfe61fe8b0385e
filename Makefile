# One command each: `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin

.PHONY: demo test test-slow test-latest lint bench aie-venv aie-fixtures bench-economy bench-rllib-economy reproduce-stackelberg sweep-stackelberg-sizes rp-fig2 rp-fig3 rp-fig5 ermas-fig2 ermas-fig3 ermas-fig4 rp-fig2-small bench-rllib bench-pursuit bench-ant clean

# Installs pin the versions the suite was run with (constraints.txt); `make test-latest` takes
# the newest versions that pyproject.toml's lower bounds allow, in a venv of its own.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test,gym,sb3,pettingzoo,ray,tensorboard,wandb,mjx]'
	touch $@

$(VENV)/.bench: $(VENV)/.installed
	$(PY) -m pip install -q -c constraints.txt -e '.[test,bench]'
	touch $@

LATEST := .venv-latest

test-latest:
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install -q --upgrade pip
	$(LATEST)/bin/python -m pip install -q --upgrade -e '.[test,gym,sb3,pettingzoo,ray,tensorboard,wandb,mjx]'
	$(LATEST)/bin/python -m pip freeze --exclude-editable
	$(LATEST)/bin/pytest -q

demo: $(VENV)/.installed
	@echo "== Worst- and best-case eps-CCE of a congestion game read from a Gambit file =="
	$(BIN)/robustmas sweep examples/commuters.nfg --principal-player 1 --epsilons 0,0.1,0.25,0.5,1
	@echo
	@echo "== Samuelson's game: the robust principal switches from T to B =="
	$(BIN)/robustmas cce samuelson-v0 --epsilon 1
	@echo
	@echo "== Maintain: optimal Stackelberg commitment =="
	$(BIN)/robustmas stackelberg maintain-v0
	@echo
	@echo "== Stackelberg POMDP: 4 leaders (one vmapped call) learn Maintain's pure optimum, 20 =="
	$(BIN)/robustmas stackelberg-pomdp train maintain-v0 --seeds 4 --steps 4096

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pyright

# Two worker processes: most tests are XLA compiles, which use one core each. Measured on the
# 2-core machine, tests only: 53 min on one process at XLA's default level; 34.6 min on two at
# level 0 (tests/conftest.py); 14-19 min after the CI-time slow marks. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2

test: lint
	$(BIN)/pytest -q -n $(TEST_WORKERS)

test-slow: $(VENV)/.installed
	$(BIN)/pytest -q -m slow -n $(TEST_WORKERS)

bench: $(VENV)/.bench
	$(PY) benchmarks/bench_equilibria.py
	$(PY) benchmarks/bench_samplers.py
	$(PY) benchmarks/bench_stackelberg.py

reproduce-stackelberg: $(VENV)/.installed
	$(BIN)/robustmas stackelberg-pomdp reproduce --out runs/reproduce-stackelberg

# Issue 14's size sweep (about 25 min on 2 cores); resumes: finished cells are skipped.
sweep-stackelberg-sizes: $(VENV)/.installed
	$(PY) -m robustmas.experiments.stackelberg_sizes --out runs/stackelberg-pomdp-sizes

# RP Fig. 2 at a small budget (about 4 min on 2 cores).
# The papers' figures at their presets' full budgets, reports into docs/results/ (resumable).
FIGURES := rp-fig2 rp-fig3 rp-fig5 ermas-fig2 ermas-fig3 ermas-fig4
$(FIGURES): $(VENV)/.installed
	$(BIN)/robustmas experiment run $@ --budget full --report docs/results/$@

# Alg. 3 against RLlib's multi-agent PPO (benchmark-only extra; about 3 min).
bench-rllib: $(VENV)/.installed
	$(PY) -m pip install -q -c constraints.txt -e '.[rllib]'
	$(PY) benchmarks/bench_rllib_alg3.py

# Pursuit (pure JAX) against PettingZoo's pursuit, env steps/s (about 1 min).
bench-pursuit: $(VENV)/.installed
	$(PY) benchmarks/bench_pursuit.py

# Multi-Agent Ant on MJX against MaMuJoCo's Ant 4x2, env steps/s (mjx extra; 2-4 min).
bench-ant: $(VENV)/.installed
	$(PY) -m pip install -q -c constraints.txt -e '.[mjx]'
	$(PY) benchmarks/bench_ant.py

rp-fig2-small: $(VENV)/.installed
	$(PY) -m robustmas.experiments.tragedy_sweep --out runs/rp-fig2-small

clean:
	rm -rf $(VENV) $(LATEST) .pytest_cache .ruff_cache

# The AI Economist (ai-economist 1.7.1) in a venv of its own: the reference of the JAX economy.
AIE := .venv-aie

$(AIE)/.installed:
	$(PYTHON) -m venv $(AIE)
	$(AIE)/bin/python -m pip install -q --no-deps ai-economist==1.7.1 numpy==1.23.5 scipy==1.10.1 \
		pyyaml lz4 GPUtil pycryptodome
	touch $@

aie-venv: $(AIE)/.installed

aie-fixtures: $(AIE)/.installed
	$(AIE)/bin/python tests/aie_reference.py replay --steps 1000 --seed 0 --out tests/data/aie_replay.npz
	$(AIE)/bin/python tests/aie_reference.py stats --episodes 100 --out tests/data/aie_random_stats.json
	$(AIE)/bin/python tests/aie_reference.py functions --out tests/data/aie_functions.json
	$(AIE)/bin/python tests/aie_saez_reference.py --out tests/data/aie_saez.npz

bench-economy: $(VENV)/.installed $(AIE)/.installed
	$(PY) benchmarks/bench_economy.py --json benchmarks/out/economy.json

# RLlib beside the AI Economist in its venv (pyarrow 18.1: newer wheels need NumPy 2).
bench-rllib-economy: $(VENV)/.installed $(AIE)/.installed
	$(AIE)/bin/python -m pip install -q torch==2.13.0 'ray[rllib]==2.60.0' numpy==1.23.5 pyarrow==18.1.0
	$(PY) benchmarks/bench_rllib_economy.py --json benchmarks/out/rllib_economy.json
