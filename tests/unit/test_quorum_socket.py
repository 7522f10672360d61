"""The quorum socket layer (zkpy/quorum/quorum_socket.py) over loopback:
TLS in both directions at once from several threads, TLS detection on an
accepted connection (TLS-only and port-unified), the host-name check of
peer certificates, and QuorumCnxManagers electing over TLS in one process."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from zkpy.quorum.quorum_cnx_manager import QuorumCnxManager
from zkpy.quorum.quorum_server import QuorumServer
from zkpy.quorum.quorum_socket import (
    QuorumSocketFactory,
    TlsSocket,
    UnifiedSocket,
    verify_peer_host,
)
from zkpy.server.ssl_config import QUORUM_SSL_PREFIX, X509Exception, X509Settings
from zkpy.testing import find_free_ports
from zkpy.testing_tls import TestPKI, openssl_problem

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(openssl_problem() is not None, reason=openssl_problem() or "")]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    pki = TestPKI(tmp_path_factory.mktemp("qpki"))
    pki.peer = pki.issue("peer", "/O=zkpy/CN=peer")
    pki.rogue = pki.issue("rogue", "/O=zkpy/CN=rogue", untrusted=True)
    return pki


def make_factory(pki, *, ssl_quorum=True, port_unification=False, cert=None, **props):
    cert = cert or pki.peer
    values = {"keyStore.location": cert.keystore, "trustStore.location": pki.ca.cert,
              "handshakeDetectionTimeoutMillis": "300", **props}
    settings = X509Settings.from_properties({QUORUM_SSL_PREFIX + k: v for k, v in values.items()},
                                            QUORUM_SSL_PREFIX)
    return QuorumSocketFactory(ssl_quorum, port_unification, settings)


class Server:
    """One accepting socket on loopback; ``accept()`` returns the raw connection."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = self.sock.getsockname()

    def accept(self, timeout=5.0):
        self.sock.settimeout(timeout)
        raw, _ = self.sock.accept()
        raw.settimeout(5.0)
        return raw

    def close(self):
        self.sock.close()


def tls_pair(pki, dialler=None, acceptor=None):
    """(dialled TlsSocket, accepted UnifiedSocket) over loopback, handshake done."""
    dialler = dialler or make_factory(pki)
    acceptor = acceptor or make_factory(pki)
    server = Server()
    try:
        result = {}
        thread = threading.Thread(target=lambda: result.setdefault("c", dialler.connect(server.address, 5, 5)))
        thread.start()
        accepted = acceptor.accepted(server.accept())
        accepted.recv(0)  # settles the mode: detection and handshake
        thread.join(10)
        return result["c"], accepted
    finally:
        server.close()


def test_tls_carries_bytes_both_ways_at_once_from_several_threads(pki):
    client, server = tls_pair(pki)
    assert isinstance(client, TlsSocket) and server.mode == "TLS"
    assert client.version == "TLSv1.2"
    size = 3 * 1024 * 1024
    payloads = {name: os.urandom(size) for name in ("to_server", "to_client")}
    received = {"to_server": bytearray(), "to_client": bytearray()}

    def writer(sock, data, parts):
        step = len(data) // parts
        for i in range(parts):
            sock.sendall(data[i * step:(i + 1) * step] if i < parts - 1 else data[i * step:])

    def reader(sock, out):
        stream = sock.makefile("rb")
        while len(out) < size:
            chunk = stream.read1(65536)
            if not chunk:
                break
            out += chunk

    # Both ends read and write at the same time; the reader never blocks a writer.
    threads = [threading.Thread(target=writer, args=(client, payloads["to_server"], 37)),
               threading.Thread(target=writer, args=(server, payloads["to_client"], 41)),
               threading.Thread(target=reader, args=(server, received["to_server"])),
               threading.Thread(target=reader, args=(client, received["to_client"]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    assert bytes(received["to_server"]) == payloads["to_server"]
    assert bytes(received["to_client"]) == payloads["to_client"]
    # Closing one end wakes the other's blocked read with EOF.
    result = []
    blocked = threading.Thread(target=lambda: result.append(server.recv(10)))
    blocked.start()
    client.shutdown(socket.SHUT_RDWR)
    client.close()
    blocked.join(5)
    assert result == [b""]
    server.close()


def test_a_tls_only_acceptor_closes_plain_and_silent_connections(pki):
    acceptor = make_factory(pki)
    server = Server()
    try:
        for payload in (b"\xff\xff\x00\x00\x00\x00\x00\x00" + b"\0" * 8, b""):
            plain = socket.create_connection(server.address)
            if payload:
                plain.sendall(payload)
            accepted = acceptor.accepted(server.accept())
            assert isinstance(accepted, UnifiedSocket)
            with pytest.raises(OSError, match="Blocked insecure connection attempt"):
                accepted.recv(8)
            with pytest.raises(OSError, match="failed earlier"):
                accepted.sendall(b"x")  # the verdict sticks
            accepted.close()
            plain.close()
    finally:
        server.close()


def test_port_unification_accepts_plain_and_tls(pki):
    unified = make_factory(pki, ssl_quorum=False, port_unification=True)
    server = Server()
    try:
        plain = socket.create_connection(server.address)
        plain.sendall(b"hello")
        accepted = unified.accepted(server.accept())
        assert accepted.recv(5) == b"hello" and accepted.mode == "PLAINTEXT"
        accepted.sendall(b"back")
        assert plain.recv(4) == b"back"
        plain.close()
        accepted.close()
    finally:
        server.close()
    client, accepted = tls_pair(pki, acceptor=unified)
    client.sendall(b"secret")
    assert accepted.recv(6) == b"secret" and accepted.mode == "TLS"
    client.close()
    accepted.close()
    # Without sslQuorum a port-unified peer dials in plain text.
    server = Server()
    dialled = unified.connect(server.address, 5, 5)
    assert isinstance(dialled, socket.socket)
    dialled.close()
    server.close()


def test_a_certificate_from_another_ca_fails_the_handshake_on_both_sides(pki):
    server = Server()
    try:
        errors = {}

        def dial():
            try:
                make_factory(pki, cert=pki.rogue).connect(server.address, 5, 5)
            except OSError as e:
                errors["dialler"] = e

        thread = threading.Thread(target=dial)
        thread.start()
        accepted = make_factory(pki).accepted(server.accept())
        with pytest.raises(OSError) as info:
            accepted.recv(1)
        thread.join(10)
        assert "certificate verify failed" in str(info.value)
        assert "unknown ca" in str(errors["dialler"])
    finally:
        server.close()


def test_the_peer_host_check():
    cert = {"subject": ((("commonName", "peer1"),),),
            "subjectAltName": (("DNS", "zk1.example.com"), ("DNS", "*.zk.example.com"), ("IP Address", "10.0.0.1"))}
    verify_peer_host(cert, "10.0.0.1")
    verify_peer_host(cert, "10.9.9.9", "zk1.example.com")
    verify_peer_host(cert, "10.9.9.9", "a.zk.example.com")
    for ip, name in (("10.9.9.9", "zk2.example.com"), ("10.9.9.9", "a.b.zk.example.com"), ("10.9.9.9", "peer1")):
        with pytest.raises(Exception, match="Failed to verify both host address and host name"):
            verify_peer_host(cert, ip, name)
    # No alternative names: the CN stands for the host name.
    verify_peer_host({"subject": ((("commonName", "localhost"),),)}, "127.0.0.1", "localhost")


def test_bad_settings_stop_an_ssl_quorum_peer_but_only_warn_with_port_unification(pki, tmp_path):
    with pytest.raises(X509Exception, match="ssl.quorum.keyStore.location"):
        QuorumSocketFactory(True, False, X509Settings.from_properties({}, QUORUM_SSL_PREFIX))
    with pytest.raises(X509Exception, match="ssl.quorum.keyStore: JKS stores are not supported"):
        make_factory(pki, **{"keyStore.location": str(tmp_path / "x.jks")})
    quiet = QuorumSocketFactory(False, True, X509Settings.from_properties({}, QUORUM_SSL_PREFIX))
    assert quiet.server_context is None and quiet.wraps_accepted


def test_connection_managers_elect_over_tls(pki):
    ports = find_free_ports(2)
    members = {sid: QuorumServer.parse(sid, f"127.0.0.1:1:{port}") for sid, port in zip((1, 2), ports)}
    managers = {}
    try:
        for sid in (1, 2):
            managers[sid] = QuorumCnxManager(sid, lambda: members, socket_timeout_ms=2000, cnx_timeout_ms=2000,
                                             socket_factory=make_factory(pki))
            managers[sid].start()
            assert managers[sid].listener.bound.wait(5)
        managers[1].to_send(2, b"from 1")  # 1 dials, 2 drops it and dials back: both in TLS
        message = managers[2].poll_recv_queue(10)
        assert message is not None and (message.buffer, message.sid) == (b"from 1", 1)
        managers[2].to_send(1, b"from 2")
        message = managers[1].poll_recv_queue(10)
        assert message is not None and (message.buffer, message.sid) == (b"from 2", 2)
        assert isinstance(managers[2].sender_worker_map[1].sock, TlsSocket)
    finally:
        for manager in managers.values():
            manager.halt()


def test_ssl_quorum_and_port_unification_in_zoo_cfg(tmp_path):
    from zkpy.server.config import ConfigException, ServerConfig

    base = {"tickTime": "200", "dataDir": str(tmp_path)}
    cfg = ServerConfig.from_properties({**base, "sslQuorum": "TRUE", "portUnification": "false",
                                        "ssl.quorum.keyStore.location": "/k.pem"}, environ={})
    assert cfg.ssl_quorum and not cfg.port_unification
    assert cfg.properties.get("zookeeper.ssl.quorum.keyStore.location") == "/k.pem"
    assert not ServerConfig.from_properties(base, environ={}).ssl_quorum
    with pytest.raises(ConfigException, match="sslQuorum"):  # QuorumPeerConfig.parseBoolean: true or false only
        ServerConfig.from_properties({**base, "sslQuorum": "yes"}, environ={})
