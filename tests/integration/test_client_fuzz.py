"""A short run of the fault tier's client-port fuzzer (tests/fault/client_fuzz.py).

Fuzzed handshakes and requests of every op against a real server: after
them the server is alive, a control session never lost its connection and
can still write, and the server logged no escaped exception. The fault
tier runs the same fuzzer about ten times longer
(tests/fault/test_hostile_clients.py).
"""

from __future__ import annotations

import pytest
from hypothesis import given

from zkpy.testing import TestingServer

from tests.fault.client_fuzz import KAZOO_USES_RANDOM, FuzzTarget, fuzz_settings, handshakes, request_frames

from .servers import zkpy_only


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory):
    with TestingServer(temp_dir=tmp_path_factory.mktemp("fuzz"), jvm_flags=[FuzzTarget.super_digest_flag()],
                       config={"maxClientCnxns": 0}) as server:
        target = FuzzTarget(server)
        try:
            yield target
        finally:
            target.close()


@zkpy_only
@KAZOO_USES_RANDOM
def test_fuzzed_handshakes_and_requests(fuzz_target):
    @fuzz_settings(250)
    @given(handshakes())
    def fuzz_handshakes(data):
        fuzz_target.send_handshake(data)

    @fuzz_settings(400)
    @given(request_frames())
    def fuzz_requests(payloads):
        fuzz_target.send_requests(payloads)

    fuzz_handshakes()
    fuzz_requests()
    fuzz_target.check()
    assert fuzz_target.examples == 650
