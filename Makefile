# zkpy: `make run` starts a standalone server, `make test` runs the tests,
# `make test-fault` the fault tier.
# Run make from the repository root: relative paths in conf/ resolve there.

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.zkpy-installed
CONF ?= ./conf/zoo_sample.cfg
PYTEST_ARGS ?=

.PHONY: install run test clean

$(VPY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the package metadata changes.
$(STAMP): setup.cfg pyproject.toml | $(VPY)
	$(VPY) -m pip install -e '.[test]'
	touch $@

install: $(STAMP)

run: install
	@echo "zkpy standalone on 127.0.0.1:2181 ($(CONF)); stop with Ctrl-C. Connect with:"
	@echo "  $(VPY) -c \"from kazoo.client import KazooClient; zk = KazooClient('127.0.0.1:2181'); zk.start(); print(zk.get_children('/')); zk.stop()\""
	@echo "  or Java's client: zkCli.sh -server 127.0.0.1:2181"
	@echo "  or a four-letter word: echo srvr | nc 127.0.0.1 2181"
	$(VPY) -m zkpy $(CONF)

test: install
	$(VPY) -m pytest $(PYTEST_ARGS)

# The fault tier (tests/fault): servers and ensembles killed, paused and
# partitioned while clients run, damaged files, hostile clients and peers.
# Bounded to 20 minutes as a whole; each run prints its ops and verdicts.
FAULT_TIMEOUT ?= 1200

.PHONY: test-fault
test-fault: install
	timeout --signal=TERM --kill-after=30 $(FAULT_TIMEOUT) $(VPY) -m pytest -m fault tests/fault $(PYTEST_ARGS)

# The benchmark (bench/README.md): zkpy next to Java ZooKeeper 3.8, if
# installed. Not part of `make test`. The `bench` extra brings matplotlib
# for the chart; without it (e.g. offline) the report just has no chart.
BENCH_STAMP := $(VENV)/.zkpy-bench-installed
BENCH_ARGS ?=

$(BENCH_STAMP): setup.cfg pyproject.toml | $(STAMP)
	$(VPY) -m pip install -e '.[test,bench]' || echo "could not install the bench extra; no chart"
	touch $@

.PHONY: bench bench-quick

bench: $(BENCH_STAMP)
	$(VPY) -m bench.run --notes bench/NOTES.md $(BENCH_ARGS)

bench-quick: $(BENCH_STAMP)
	$(VPY) -m bench.run --quick --out-dir bench/out $(BENCH_ARGS)

clean:
	rm -rf build dist *.egg-info .pytest_cache
