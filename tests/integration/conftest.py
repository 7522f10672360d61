"""Integration fixtures: ``zk_server`` follows ``ZKPY_IT_TARGET`` (see servers.py)."""

from __future__ import annotations

import pytest

from .servers import new_server


@pytest.fixture(scope="module")
def zk_server(tmp_path_factory):
    """A started server shared by the tests of one module (zkpy, or Java when selected)."""
    server = new_server(temp_dir=tmp_path_factory.mktemp("zk_server"))
    try:
        yield server
    finally:
        server.close()
