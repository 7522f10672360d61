# zkpy: `make run` starts a standalone server, `make test` runs the tests.
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

clean:
	rm -rf build dist *.egg-info .pytest_cache
