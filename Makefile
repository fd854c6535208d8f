# One entry point. `make demo` is the main job, `make test` runs every test.
# Both build what is missing (Go binaries into bin/, the virtualenv) first.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: tools venv demo test unit e2e lint crds down clean

tools:
	$(PY) hack/build_tools.py

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

demo: tools venv
	$(BIN)/python hack/demo.py

down: venv
	$(BIN)/hybridfed dev down

lint: venv
	$(BIN)/ruff check operator tests bench hack
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m hybridfed.api.crdgen --check
	$(BIN)/python hack/gen_agent_chart.py --check
	$(BIN)/python hack/dashboards.py --check

crds: venv
	$(BIN)/python -m hybridfed.api.crdgen

unit: venv
	$(BIN)/pytest -q tests/unit

e2e: tools venv
	$(BIN)/pytest -q tests/e2e

test: tools venv lint
	$(BIN)/pytest -q tests/unit tests/e2e

clean: down
	rm -rf bin $(VENV)

# Benchmarks (figures, not timed tests; docs/performance.md). Each runs on its own fleet (.hybridfed/bench,
# ports 19400+) and takes it down at the end. `make bench SMOKE=1` runs the small sizes.
.PHONY: bench
BENCH_ARGS := $(if $(SMOKE),--smoke,)
bench: tools venv
	$(BIN)/pip install -q -r bench/requirements.txt
	$(BIN)/ruff check bench
	$(BIN)/mypy bench
	$(BIN)/python -m bench.scheduling $(BENCH_ARGS)
	$(BIN)/python -m bench.propagation --profile $(BENCH_ARGS)
	$(BIN)/python -m bench.memory $(BENCH_ARGS)
	$(BIN)/python -m bench.failover $(BENCH_ARGS)
	$(BIN)/python -m bench.hub_writes $(BENCH_ARGS)

# hybridfed and Karmada v1.18.2 side by side on one fleet (bench/vs_karmada.py, docs/performance.md "Side by side
# with Karmada"). Builds Karmada from Go modules first when bin/karmada is missing or stale (~17 min cold), which
# is why it is not part of `make test` or `make bench`. ~45 min; `make bench-karmada SMOKE=1`: 20 objects, storms.
.PHONY: bench-karmada
bench-karmada: tools venv
	$(BIN)/pip install -q -r bench/requirements.txt
	$(BIN)/python hack/build_karmada.py
	$(BIN)/python -m bench.vs_karmada $(BENCH_ARGS)

# Chaos (bench/chaos.py, docs/performance.md "Chaos"): faults injected while a mixed load runs, then every
# invariant checked against the members; its own fleet (.hybridfed/bench-chaos, ports 26400+). At least 30 min
# and 200 faults; `make chaos SMOKE=1`: 3 min, 10 faults. Exits non-zero when an invariant is broken.
.PHONY: chaos
chaos: tools venv
	$(BIN)/python -m bench.chaos $(BENCH_ARGS)
