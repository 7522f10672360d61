# zkpy. Run make from the repository root: relative paths in conf/ resolve there.
#
#   make run              start a 3-peer localhost ensemble (conf/ensemble/) in the
#                         background, wait for its leader, print how to connect
#   make ensemble N=5     the same with N peers (configs generated in data/ensemble-N/conf)
#   make status           each peer's mode (and the standalone server's), or "not running"
#   make stop             stop every peer and a standalone server started in the background
#   make standalone       one standalone server in the foreground (CONF, Ctrl-C stops it)
#   make clean-data       stop the servers, remove their data and logs (under DATA)
#   make test             the tests; `make test-fault` the fault tier; `make bench`
#
# Each peer runs through bin/zkServer.sh start, so bin/zkServer.sh status|stop|restart
# <its zoo.cfg> work too. Peer K of an N-peer ensemble listens for clients on
# CLIENT_PORT+K-1 (quorum QUORUM_PORT+K-1, election ELECTION_PORT+K-1), keeps its
# data in DATA/ensemble-N/K and logs to DATA/ensemble-N/logs/K.

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.zkpy-installed
CONF ?= ./conf/zoo_sample.cfg
PYTEST_ARGS ?=

# The ensemble: `make run` uses the configs in ENSEMBLE_CONF; `make ensemble`
# generates N of them from the variables below (N=3 with the defaults is
# exactly conf/ensemble). WAIT bounds the wait for a leader, in seconds.
ENSEMBLE_CONF ?= ./conf/ensemble
DATA ?= ./data
N ?= 3
CLIENT_PORT ?= 2181
QUORUM_PORT ?= 2888
ELECTION_PORT ?= 3888
TICK ?= 2000
WAIT ?= 60
ENSEMBLE := $(VPY) -m zkpy.cli.ensemble
KNOWN_SERVERS := --conf-dir $(ENSEMBLE_CONF) --data-root $(DATA) --standalone $(CONF)

.PHONY: install run ensemble standalone status stop clean-data test clean

$(VPY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the package metadata changes.
$(STAMP): setup.cfg pyproject.toml | $(VPY)
	$(VPY) -m pip install -e '.[test]'
	touch $@

# Byte-compile the sources each time (only what changed is compiled again):
# an editable install leaves that to the first import, and with
# PYTHONDONTWRITEBYTECODE set every server process would compile all of
# zkpy again, ~0.1 s of CPU per start.
install: $(STAMP)
	@$(VPY) -m compileall -q zkpy bench

run: install
	@$(ENSEMBLE) run --conf-dir $(ENSEMBLE_CONF) --zkserver bin/zkServer.sh --timeout $(WAIT)

ensemble: install
	@$(ENSEMBLE) run --n $(N) --data-root $(DATA) --default-conf $(ENSEMBLE_CONF) \
		--client-port $(CLIENT_PORT) --quorum-port $(QUORUM_PORT) --election-port $(ELECTION_PORT) \
		--tick-time $(TICK) --zkserver bin/zkServer.sh --timeout $(WAIT)

status: install
	@$(ENSEMBLE) status $(KNOWN_SERVERS)

stop: install
	@$(ENSEMBLE) stop $(KNOWN_SERVERS)

clean-data: install
	@$(ENSEMBLE) clean-data $(KNOWN_SERVERS)

# The client port `make standalone` prints: CONF's last clientPort line (2181 without one).
STANDALONE_PORT = $(or $(shell sed -n 's/^[[:space:]]*clientPort[[:space:]]*[=:[:space:]][[:space:]]*\([0-9]*\).*/\1/p' $(CONF) 2>/dev/null | tail -n 1),2181)

standalone: install
	@echo "zkpy standalone ($(CONF)); stop with Ctrl-C. Connect with:"
	@echo "  bin/zkCli.sh -server 127.0.0.1:$(STANDALONE_PORT)"
	@echo "  $(VPY) -c \"from kazoo.client import KazooClient; zk = KazooClient('127.0.0.1:$(STANDALONE_PORT)'); zk.start(); print(zk.get_children('/')); zk.stop()\""
	@echo "  or Java's client: zkCli.sh -server 127.0.0.1:$(STANDALONE_PORT)"
	@echo "  or a four-letter word: echo srvr | nc 127.0.0.1 $(STANDALONE_PORT)"
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
# Then the start-up time of a test server (bench/startup_time.py), into its
# own section of the same report; STARTUP_ARGS go to it.
BENCH_STAMP := $(VENV)/.zkpy-bench-installed
BENCH_ARGS ?=
STARTUP_ARGS ?=

$(BENCH_STAMP): setup.cfg pyproject.toml | $(STAMP)
	$(VPY) -m pip install -e '.[test,bench]' || echo "could not install the bench extra; no chart"
	touch $@

bench bench-quick: install

.PHONY: bench bench-quick

# A failed run (reported in RESULTS.md) still lets the start-up section be
# measured; make bench then exits with bench.run's status.
bench: $(BENCH_STAMP)
	status=0; $(VPY) -m bench.run --notes bench/NOTES.md $(BENCH_ARGS) || status=$$?; \
	$(VPY) -m bench.startup_time $(STARTUP_ARGS) && exit $$status

bench-quick: $(BENCH_STAMP)
	$(VPY) -m bench.run --quick --out-dir bench/out $(BENCH_ARGS)
	$(VPY) -m bench.startup_time --rounds 3 --ensemble-rounds 2 --report bench/out/RESULTS.md \
		--json bench/out/startup_time.json $(STARTUP_ARGS)

clean:
	rm -rf build dist *.egg-info .pytest_cache
