"""A TCP proxy for tests that need to silence or cut a client's connection.

``TcpProxy(target_host, target_port)`` listens on a free local port and
forwards each accepted connection to the target. ``blackhole()`` makes every
connection (current and new) silent in both directions without closing it
-- what a client sees when a server hangs or the network partitions -- and
``restore()`` forwards again; ``drop_connections()`` closes the current
ones and ``refuse()`` closes every new one at once (a server that is down).
One thread runs a selector over every socket; ``close()`` stops it.
"""

from __future__ import annotations

import selectors
import socket
import threading



class TcpProxy:
    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.host = host
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, 0))
        self._listener.listen(16)
        self._listener.setblocking(False)
        self.port = self._listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._pairs: dict[socket.socket, socket.socket] = {}
        self._lock = threading.Lock()
        self._blackhole = False
        self._refuse = False
        self._drop = False
        self._closed = False
        self.accepted = 0
        self._thread = threading.Thread(target=self._run, name="TcpProxy", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def blackhole(self) -> None:
        self._blackhole = True

    def restore(self) -> None:
        """Forward again (undoes blackhole() and refuse())."""
        self._blackhole = False
        self._refuse = False

    def refuse(self) -> None:
        self._refuse = True

    def drop_connections(self) -> None:
        self._drop = True

    def close(self) -> None:
        self._closed = True
        self._thread.join(timeout=5)

    def __enter__(self) -> "TcpProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _run(self) -> None:
        try:
            while not self._closed:
                if self._drop:
                    self._drop = False
                    for sock in list(self._pairs):
                        self._close_pair(sock)
                for key, _ in self._selector.select(0.05):
                    if key.fileobj is self._listener:
                        self._accept()
                    else:
                        self._pump(key.fileobj)
        finally:
            for sock in list(self._pairs):
                self._close_pair(sock)
            self._selector.close()
            self._listener.close()

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        self.accepted += 1
        if self._refuse:
            client.close()
            return
        try:
            upstream = socket.create_connection(self.target, timeout=2)
        except OSError:
            client.close()
            return
        for sock in (client, upstream):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._selector.register(sock, selectors.EVENT_READ, None)
        self._pairs[client] = upstream
        self._pairs[upstream] = client

    def _pump(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close_pair(sock)
            return
        if self._blackhole:
            return  # swallowed: the peer hears nothing, the socket stays open
        peer = self._pairs.get(sock)
        if peer is None:
            return
        try:
            peer.setblocking(True)
            peer.sendall(data)
            peer.setblocking(False)
        except OSError:
            self._close_pair(sock)

    def _close_pair(self, sock: socket.socket) -> None:
        peer = self._pairs.pop(sock, None)
        for s in (sock, peer):
            if s is None:
                continue
            self._pairs.pop(s, None)
            try:
                self._selector.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()
