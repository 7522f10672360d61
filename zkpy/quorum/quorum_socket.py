"""The sockets between peers: plain TCP, or TLS with ``sslQuorum=true``.

Java: ``QuorumX509Util`` (the ``zookeeper.ssl.quorum.*`` settings),
``X509Util.createSSLSocket`` / ``createSSLServerSocket``,
``UnifiedServerSocket`` (``UnifiedSocket``, ``PrependableSocket``: TLS
detection on an accepted connection) and ``ZKTrustManager``'s host check.
This module is the one place that makes a quorum socket: the election
(:mod:`.quorum_cnx_manager`) and Zab (:mod:`.leader`, :mod:`.learner`)
ports both dial with :meth:`QuorumSocketFactory.connect` and pass what they
accept through :meth:`QuorumSocketFactory.accepted`.

As in Java 3.8:

* ``sslQuorum=true``: every dial is a TLS client that presents the key
  store's certificate (the handshake is done in the dialling thread, with
  the socket's timeout); accepted connections must be TLS: a plain one is
  closed ("Blocked insecure connection attempt");
* ``portUnification=true``: accepted connections may be TLS or plain
  (a rolling upgrade to or from ``sslQuorum``); the first 5 bytes, read
  within ``ssl.quorum.handshakeDetectionTimeoutMillis`` (5000), decide;
  a connection that sends nothing in time is taken as plain;
* detection and handshake of an accepted connection happen on its first
  read or write, in the thread that does it (the election Listener, a
  LearnerHandler), under the socket's timeout, so a peer that hangs in
  the handshake costs at most that timeout;
* the peer's certificate is checked against the trust store, and with
  ``ssl.quorum.hostnameVerification`` (default true) against the peer's
  address, in both directions: its IP address first (IP subject
  alternative names), then its host name (DNS names; the CN when the
  certificate has no alternative names) — the name dialled, or for an accepted connection the reverse
  lookup of its address;
* log lines "SSL handshake complete with ..." (dialling) and "Accepted TLS
  connection from ..." name the TLS version and cipher suite.

What zkpy does differently, on purpose:

* The TLS state of a connection is an ``ssl.SSLObject`` over memory
  buffers, guarded by a lock, with the socket I/O outside it: the quorum
  protocols read in one thread and write in others on the same
  connection, which OpenSSL does not allow on one ``SSL`` object (and so
  not on an ``ssl.SSLSocket``).
* Bad settings (no key store, unreadable files) stop the peer at startup
  (see :mod:`zkpy.server.ssl_config`); Java starts and fails every quorum
  connection. With ``portUnification`` alone, bad settings only disable
  the TLS side (a warning), since nothing dials TLS then.
* ``sslQuorumReloadCertFiles`` (reloading changed stores) is not
  implemented: a changed store is read at the next start.
"""

from __future__ import annotations

import io
import ipaddress
import logging
import socket
import ssl
import threading
from typing import Optional, Union

from ..server.ssl_config import QUORUM_SSL_PREFIX, X509Exception, X509Settings
from .initial_message import format_address

LOG = logging.getLogger(__name__)

__all__ = ["QuorumSocketFactory", "TlsSocket", "UnifiedSocket", "QuorumSocket", "verify_peer_host"]

#: Java: ``X509Util.DEFAULT_HANDSHAKE_DETECTION_TIMEOUT_MILLIS``.
DEFAULT_HANDSHAKE_DETECTION_TIMEOUT_MS = 5000
_RECV = 65536
#: Largest plaintext handed to the TLS engine at once (bounds the encrypted copy).
_WRITE_CHUNK = 256 * 1024


def _is_tls_record(head: bytes) -> bool:
    """A TLS record header: content type 20-23 (a ClientHello is 22), major version 3
    (Netty's ``SslHandler.isEncrypted``, less its SSLv2 case)."""
    return len(head) >= 5 and 20 <= head[0] <= 23 and head[1] == 3


def _peer_ip(sock: socket.socket) -> str:
    try:
        return sock.getpeername()[0]
    except OSError:
        return "?"


# -- host names in certificates -----------------------------------------------------------------

def _dns_match(pattern: str, host: str) -> bool:
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern == host:
        return True
    # One leftmost wildcard label, not matching across dots (RFC 6125).
    if pattern.startswith("*.") and "." in host:
        return host.split(".", 1)[1] == pattern[2:] and pattern.count(".") >= 2
    return False


def _ip_match(pattern: str, ip: str) -> bool:
    try:
        return ipaddress.ip_address(pattern.strip()) == ipaddress.ip_address(ip)
    except ValueError:
        return False


def verify_peer_host(cert: dict, ip: str, host_name: Optional[str] = None) -> None:
    """Check the peer certificate ``cert`` (``getpeercert()``'s dict) against
    the peer's address ``ip``, then against ``host_name`` (when None, the
    reverse lookup of ``ip``), as Java's ``ZKTrustManager.performHostVerification``.
    Raises ``ssl.SSLCertVerificationError``."""
    alt_names = cert.get("subjectAltName", ())
    ips = [value for kind, value in alt_names if kind == "IP Address"]
    dns = [value for kind, value in alt_names if kind == "DNS"]
    if any(_ip_match(value, ip) for value in ips):
        return
    if host_name is None:
        try:
            host_name = socket.gethostbyaddr(ip)[0]
        except OSError:
            host_name = ip
    if alt_names:
        if any(_dns_match(value, host_name) for value in dns):
            return
    else:
        # No subject alternative names: the most specific CN (Java's ZKHostnameVerifier).
        cns = [value for rdn in cert.get("subject", ()) for key, value in rdn if key == "commonName"]
        if cns and _dns_match(cns[-1], host_name):
            return
    names = ", ".join(f"{kind}:{value}" for kind, value in alt_names) or "no subject alternative names"
    raise ssl.SSLCertVerificationError(
        f"Failed to verify both host address and host name: the certificate ({names}) names neither "
        f"{ip} nor {host_name}")


# -- TLS over a blocking socket, safe for one reader and several writers ----------------------------

class _SocketWrapper:
    """What the quorum's socket wrappers pass straight to the socket beneath
    (``_raw``), and the buffered reader over their own ``recv_into``."""

    _raw: socket.socket

    def makefile(self, mode: str = "rb", buffering: int = -1):
        if mode not in ("rb", "r"):
            raise ValueError("a quorum socket only makes binary readers")
        return io.BufferedReader(_RawReader(self), buffering if buffering > 0 else io.DEFAULT_BUFFER_SIZE)

    def settimeout(self, timeout: Optional[float]) -> None:
        self._raw.settimeout(timeout)

    def gettimeout(self) -> Optional[float]:
        return self._raw.gettimeout()

    def setsockopt(self, *args) -> None:
        self._raw.setsockopt(*args)

    def getsockopt(self, *args):
        return self._raw.getsockopt(*args)

    def getpeername(self):
        return self._raw.getpeername()

    def getsockname(self):
        return self._raw.getsockname()

    def fileno(self) -> int:
        return self._raw.fileno()


class TlsSocket(_SocketWrapper):
    """A TLS connection over a connected blocking socket, with the socket
    calls the quorum code uses (``recv``, ``sendall``, ``makefile("rb")``,
    ``settimeout``, ``shutdown``, ``close``, ...).

    The TLS state (an ``ssl.SSLObject`` over two ``ssl.MemoryBIO``) is
    touched only under ``_lock``, never held across socket I/O, so one
    thread may block reading while others write. ``_send_lock`` keeps the
    encrypted records in the order the TLS state produced them.
    """

    def __init__(self, raw: socket.socket, context, *, server_side: bool, host_name: Optional[str] = None,
                 hostname_verification: bool = True):
        self._raw = raw
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=server_side)
        self._host_name = host_name
        self._hostname_verification = hostname_verification
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._recv_lock = threading.Lock()
        self._closed = False

    # -- handshake ---------------------------------------------------------------------------------
    def do_handshake(self) -> None:
        """Handshake under the socket's timeout, then check the peer's host
        name; raises ``ssl.SSLError`` or ``OSError`` (``socket.timeout``)."""
        while True:
            error: Optional[ssl.SSLError] = None
            with self._lock:
                try:
                    self._tls.do_handshake()
                    done = True
                except ssl.SSLWantReadError:
                    done = False
                except ssl.SSLError as e:
                    error, done = e, False
            if error is not None:
                try:
                    self._flush()  # the alert that tells the peer why we give up
                except OSError:
                    pass
                raise error
            self._flush()  # our next flight
            if done:
                break
            if not self._fill():
                raise ConnectionResetError(f"{self.peer_description()} closed the connection during the "
                                           f"TLS handshake")
        if self._hostname_verification:
            cert = self._tls.getpeercert()
            if cert:
                try:
                    verify_peer_host(cert, _peer_ip(self._raw), self._host_name)
                except ssl.SSLCertVerificationError:
                    self._send_close_notify()
                    raise

    def peer_description(self) -> str:
        try:
            return format_address(*self._raw.getpeername()[:2])
        except OSError:
            return "the peer"

    @property
    def version(self) -> Optional[str]:
        return self._tls.version()

    @property
    def cipher(self) -> Optional[str]:
        cipher = self._tls.cipher()
        return cipher[0] if cipher else None

    def getpeercert(self):
        return self._tls.getpeercert()

    # -- moving bytes -----------------------------------------------------------------------------
    def _flush(self) -> None:
        """Send every encrypted byte produced so far, in order."""
        with self._send_lock:
            with self._lock:
                data = self._outgoing.read()
            if data:
                self._raw.sendall(data)

    def _fill(self) -> bool:
        """Read encrypted bytes from the socket into the TLS state; False at EOF."""
        with self._recv_lock:
            data = self._raw.recv(_RECV)
        with self._lock:
            if data:
                self._incoming.write(data)
            else:
                self._incoming.write_eof()
        return bool(data)

    def recv(self, n: int) -> bytes:
        """Up to ``n`` decrypted bytes; b"" at the end of the stream."""
        if n <= 0:
            return b""
        while True:
            with self._lock:
                try:
                    data = self._tls.read(n)
                except ssl.SSLWantReadError:
                    data = None
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    data = b""  # close_notify, or a bare TCP close (as SSLSocket's suppress_ragged_eofs)
                pending = self._outgoing.pending
            if pending:
                self._flush()  # TLS 1.3 post-handshake answers
            if data is not None:
                return data
            if not self._fill():
                with self._lock:
                    try:
                        return self._tls.read(n)
                    except (ssl.SSLZeroReturnError, ssl.SSLEOFError, ssl.SSLWantReadError):
                        return b""

    def recv_into(self, buffer, nbytes: int = 0) -> int:
        view = memoryview(buffer).cast("B")
        data = self.recv(nbytes or len(view))
        view[:len(data)] = data
        return len(data)

    def sendall(self, data) -> None:
        view = memoryview(data).cast("B")
        with self._send_lock:
            for start in range(0, len(view), _WRITE_CHUNK):
                with self._lock:
                    self._tls.write(view[start:start + _WRITE_CHUNK])
                    out = self._outgoing.read()
                self._raw.sendall(out)

    def send(self, data) -> int:
        self.sendall(data)
        return len(data)

    def _send_close_notify(self) -> None:
        """Best effort, never blocking: a writer may hold the send lock while
        stuck on a peer that does not read."""
        if not self._send_lock.acquire(blocking=False):
            return
        try:
            with self._lock:
                try:
                    self._tls.unwrap()
                except (ssl.SSLError, ValueError):
                    pass  # WantRead: we do not wait for the peer's close_notify
                data = self._outgoing.read()
            if data:
                self._raw.send(data, socket.MSG_DONTWAIT)
        except OSError:
            pass
        finally:
            self._send_lock.release()

    def shutdown(self, how: int) -> None:
        if not self._closed:
            self._closed = True
            self._send_close_notify()
        self._raw.shutdown(how)

    def close(self) -> None:
        self._closed = True
        self._raw.close()

    def __repr__(self) -> str:
        return f"TlsSocket({self.peer_description()}, {self.version}, {self.cipher})"


class _RawReader(io.RawIOBase):
    """``makefile("rb")`` for a :class:`TlsSocket` or :class:`UnifiedSocket`."""

    def __init__(self, sock):
        super().__init__()
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._sock.recv_into(buffer)


# -- accepted connections: TLS or plain, decided by the first bytes ----------------------------

class UnifiedSocket(_SocketWrapper):
    """An accepted quorum connection whose mode (TLS or plain) is settled
    on its first read or write (Java: ``UnifiedServerSocket.UnifiedSocket``).

    :param allow_plaintext: ``portUnification``: a plain connection is kept;
        otherwise it is closed with "Blocked insecure connection attempt".
    """

    def __init__(self, raw: socket.socket, factory: "QuorumSocketFactory", *, allow_plaintext: bool):
        self._raw = raw
        self._factory = factory
        self._allow_plaintext = allow_plaintext
        self._mode_lock = threading.Lock()
        self._conn: Union[socket.socket, TlsSocket, None] = None
        self._error: Optional[BaseException] = None

    @property
    def mode(self) -> str:
        if self._conn is None:
            return "UNKNOWN"
        return "TLS" if isinstance(self._conn, TlsSocket) else "PLAINTEXT"

    def _connection(self):
        conn = self._conn
        if conn is not None:
            return conn
        with self._mode_lock:
            if self._conn is None:
                if self._error is not None:
                    raise OSError(f"this quorum connection failed earlier: {self._error}")
                try:
                    self._conn = self._detect()
                except BaseException as e:
                    self._error = e
                    raise
            return self._conn

    def _detect(self):
        raw = self._raw
        factory = self._factory
        where = format_address(*raw.getpeername()[:2])
        old_timeout = raw.gettimeout()
        head = b""
        raw.settimeout(factory.handshake_detection_timeout_ms / 1000.0)
        try:
            # MSG_WAITALL: the whole record header, or EOF, or the timeout.
            head = raw.recv(5, socket.MSG_PEEK | socket.MSG_WAITALL)
        except socket.timeout:
            LOG.warning("Socket mode detection timed out after %d ms, assuming PLAINTEXT",
                        factory.handshake_detection_timeout_ms)
        finally:
            raw.settimeout(old_timeout)
        if _is_tls_record(head):
            tls = factory.server_tls(raw)
            try:
                tls.do_handshake()
            except OSError as e:
                LOG.warning("TLS handshake with %s failed: %s", where, e)
                raise
            LOG.info("Accepted TLS connection from %s - %s - %s", where, tls.version, tls.cipher)
            return tls
        if not self._allow_plaintext:
            LOG.warning("Blocked insecure connection attempt from %s (sslQuorum=true accepts TLS only)", where)
            raise OSError("Blocked insecure connection attempt")
        LOG.info("Accepted plaintext connection from %s", where)
        return raw

    # -- the socket calls ---------------------------------------------------------------------------
    def recv(self, n: int) -> bytes:
        return self._connection().recv(n)

    def recv_into(self, buffer, nbytes: int = 0) -> int:
        return self._connection().recv_into(buffer, nbytes)

    def sendall(self, data) -> None:
        self._connection().sendall(data)

    def send(self, data) -> int:
        return self._connection().send(data)

    def shutdown(self, how: int) -> None:
        conn = self._conn
        (conn if conn is not None else self._raw).shutdown(how)

    def close(self) -> None:
        conn = self._conn
        (conn if conn is not None else self._raw).close()

    def __repr__(self) -> str:
        return f"UnifiedSocket(mode={self.mode}, {self._conn if self._conn is not None else self._raw})"


#: What the quorum code holds: a plain socket, or one of the wrappers above.
QuorumSocket = Union[socket.socket, TlsSocket, UnifiedSocket]


# -- the factory ---------------------------------------------------------------------------------

class QuorumSocketFactory:
    """Makes the quorum sockets of one peer (Java: the peer's ``QuorumX509Util``
    with ``isSslQuorum`` / ``shouldUsePortUnification``).

    :param ssl_quorum: dial in TLS and accept only TLS (``sslQuorum``).
    :param port_unification: accept TLS and plain alike (``portUnification``).
    :param settings: the ``zookeeper.ssl.quorum.*`` settings (needed when
        either flag is set). Raises :class:`~zkpy.server.ssl_config.X509Exception`
        when ``ssl_quorum`` is set and they cannot make a context.
    """

    def __init__(self, ssl_quorum: bool = False, port_unification: bool = False,
                 settings: Optional[X509Settings] = None):
        self.ssl_quorum = ssl_quorum
        self.port_unification = port_unification
        self.settings = settings
        self.server_context = None
        self.client_context = None
        self.hostname_verification = settings.hostname_verification if settings is not None else True
        self.handshake_detection_timeout_ms = (settings.handshake_detection_timeout_ms if settings is not None
                                               else DEFAULT_HANDSHAKE_DETECTION_TIMEOUT_MS)
        if ssl_quorum or port_unification:
            if settings is None:
                raise X509Exception("sslQuorum / portUnification need the ssl.quorum.* settings")
            try:
                self.server_context = settings.create_server_context()
                self.client_context = settings.create_client_context()
            except X509Exception as e:
                if ssl_quorum:
                    raise
                LOG.warning("portUnification: the ssl.quorum.* settings make no TLS context (%s); "
                            "TLS connections to the quorum ports will fail", e)
            if self.client_context is not None:
                # The host check is ours (verify_peer_host): IP address first, then name, as Java's.
                self.client_context.check_hostname = False
        if ssl_quorum:
            LOG.info("Using TLS encrypted quorum communication")
        elif port_unification:
            LOG.info("Quorum ports accept TLS and plaintext connections (portUnification); dialling in plaintext")

    @classmethod
    def from_config(cls, config) -> "QuorumSocketFactory":
        """From a :class:`~zkpy.server.config.ServerConfig`."""
        if not (config.ssl_quorum or config.port_unification):
            return cls()
        settings = X509Settings.from_properties(config.properties, QUORUM_SSL_PREFIX)
        return cls(config.ssl_quorum, config.port_unification, settings)

    @property
    def wraps_accepted(self) -> bool:
        return self.ssl_quorum or self.port_unification

    def describe_listener(self) -> str:
        if self.port_unification:
            return "Creating TLS-enabled quorum server socket"
        return "Creating TLS-only quorum server socket"

    def connect(self, address: tuple[str, int], connect_timeout: Optional[float],
                timeout: Optional[float], *, keep_alive: bool = False) -> QuorumSocket:
        """Dial ``address`` (within ``connect_timeout`` seconds), set
        TCP_NODELAY and the read ``timeout``, and with ``sslQuorum`` do the
        TLS handshake (under that timeout). Raises ``OSError`` (``ssl.SSLError``)."""
        raw = socket.create_connection(address, timeout=connect_timeout)
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if keep_alive:
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            raw.settimeout(timeout)
            if not self.ssl_quorum:
                return raw
            tls = TlsSocket(raw, self.client_context, server_side=False, host_name=address[0],
                            hostname_verification=self.hostname_verification)
            tls.do_handshake()
        except BaseException:
            _abort(raw)
            raise
        LOG.info("SSL handshake complete with %s - %s - %s", format_address(*address), tls.version, tls.cipher)
        return tls

    def accepted(self, raw: socket.socket) -> QuorumSocket:
        """An accepted connection as the quorum code should use it: itself
        when neither TLS nor port unification is on, else a
        :class:`UnifiedSocket` that settles its mode on first use."""
        if not self.wraps_accepted:
            return raw
        return UnifiedSocket(raw, self, allow_plaintext=self.port_unification)

    def server_tls(self, raw: socket.socket) -> TlsSocket:
        if self.server_context is None:
            raise OSError("a TLS quorum connection, but the ssl.quorum.* settings make no TLS context")
        # The dialler's name is unknown: verify_peer_host looks its address up.
        return TlsSocket(raw, self.server_context, server_side=True,
                         hostname_verification=self.hostname_verification)


def _abort(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass
