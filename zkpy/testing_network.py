"""Loopback TCP proxies between the peers of a test ensemble, to partition it.

Stands for no Java class: ZooKeeper's own partition tests need root
(iptables) or a mocked network layer. zkpy's :class:`~zkpy.testing.TestingCluster`
(with ``partitionable=True``) puts one :class:`PeerNetwork` link in front of
every ordered pair of peers and port: peer *i* reaches peer *j*'s quorum
and election ports only through its own proxies ``i->j``, so cutting
``i->j`` and ``j->i`` separates the two peers and nobody else.

Why a proxy and not network namespaces or iptables: it needs no root, no
``ip``/``iptables`` binaries and no kernel features, so the same test runs
on a laptop, in a container and in CI; it costs one thread in the test
process and one extra loopback hop per peer message. What it cannot do is
cut a client from a peer (clients connect to the peers directly), and each
peer's zoo.cfg names the others by proxy ports, so ``conf`` differs between
peers in the port numbers only.

A link is in one of three states:

* ``open``: bytes flow both ways;
* ``blackhole``: a silent partition, as a network that drops packets:
  connections stay open but nothing moves (the proxy stops reading, so the
  kernel's buffers fill and senders eventually block), and new connections
  are accepted but held without reaching the target. Peers notice through
  their own timeouts (``syncLimit`` ticks). :meth:`PeerNetwork.heal` lets
  the held bytes through, as TCP retransmission would;
* ``refuse``: existing connections are closed and new ones closed at once
  (a peer that resets connections); peers notice immediately.

Independently of its state, a link can be *impaired*
(:meth:`PeerNetwork.impair`, as ``tc netem delay ... loss ...`` would):
every chunk of bytes it carries waits ``delay`` seconds (plus up to
``jitter``), and a ``loss`` fraction of them waits ``rto`` more, which is
what a lost segment costs a TCP stream once retransmitted. Order is kept:
a chunk never overtakes the one before it; impairments and states are
independent (:meth:`PeerNetwork.unimpair` ends the former, ``heal`` the
latter). This stands in for ``tc netem`` where the kernel has no
netem qdisc or the tests are not root.

One thread runs a selector over every listener and socket; state changes
are handed to it through a queue and take effect before the call returns.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import random
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Optional

LOG = logging.getLogger(__name__)

__all__ = ["PeerNetwork", "Impairment", "OPEN", "BLACKHOLE", "REFUSE"]

OPEN = "open"
BLACKHOLE = "blackhole"
REFUSE = "refuse"
_STATES = (OPEN, BLACKHOLE, REFUSE)

#: Stop reading a side while this much of its data waits to be written on.
_BUFFER_LIMIT = 1 << 20


@dataclasses.dataclass(frozen=True)
class Impairment:
    """Delay and loss on a link, in seconds and as a fraction of chunks."""

    delay: float = 0.0
    jitter: float = 0.0
    loss: float = 0.0
    #: What a lost chunk costs: Linux's minimum TCP retransmission timeout.
    rto: float = 0.2

    def hold(self, rng: random.Random) -> float:
        extra = self.rto if self.loss and rng.random() < self.loss else 0.0
        return self.delay + (rng.uniform(0.0, self.jitter) if self.jitter else 0.0) + extra


class _Link:
    """One proxy listener: connections from ``src`` to ``dst``'s ``target`` port."""

    def __init__(self, src: int, dst: int, name: str, listener: socket.socket, target: tuple[str, int]):
        self.src = src
        self.dst = dst
        self.name = name
        self.listener = listener
        self.target = target
        self.state = OPEN
        self.impairment: Optional[Impairment] = None
        self.pairs: set[_Pair] = set()
        self.accepted = 0

    @property
    def port(self) -> int:
        return self.listener.getsockname()[1]


class _Pair:
    """One proxied connection: side 0 is the dialling peer's socket, side 1
    the connection to the target (None while held in a blackhole)."""

    def __init__(self, link: _Link, dialler: socket.socket):
        self.link = link
        self.socks: list[Optional[socket.socket]] = [dialler, None]
        self.bufs = [bytearray(), bytearray()]  # bufs[i]: read from side i, to be written to the other
        self.eof = [False, False]               # side i will send nothing more
        self.shut = [False, False]              # we have shut down writing to side i
        self.closed = False
        # Impaired links: chunks read from side i, with the time each may
        # go on (kept in order), and whether side i's EOF waits behind them.
        self.delayed: list[deque] = [deque(), deque()]
        self.delayed_bytes = [0, 0]
        self.eof_delayed = [False, False]
        self.release_at = [0.0, 0.0]            # the last chunk's time, so none overtakes it


class PeerNetwork:
    """Every proxy link of one ensemble, served by one thread.

    >>> net = PeerNetwork()                                  # doctest: +SKIP
    >>> port = net.add_link(1, 2, "election", target_port)  # peer 1 dials this port to reach peer 2
    >>> net.set_state([(1, 2), (2, 1)], "blackhole")
    >>> net.heal()
    """

    def __init__(self, host: str = "127.0.0.1", avoid_ports: Iterable[int] = ()) -> None:
        self.host = host
        #: Ports the proxies must not take: the peers' own, chosen before
        #: they bind them (the kernel may hand a just-released port out again).
        self.avoid_ports = set(avoid_ports)
        self._selector = selectors.DefaultSelector()
        self._links: dict[tuple[int, int, str], _Link] = {}
        self._commands: "queue.Queue[tuple]" = queue.Queue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self._closed = False
        self._rng = random.Random()
        self._delaying: set[_Pair] = set()  # pairs with chunks waiting on an impairment
        self._thread = threading.Thread(target=self._run, name="PeerNetwork", daemon=True)
        self._thread.start()

    # -- configuration (test thread) -------------------------------------------------------

    def add_link(self, src: int, dst: int, name: str, target_port: int) -> int:
        """A new listener forwarding to ``host:target_port``; the port peer
        ``src`` must dial to reach ``dst``'s ``name`` port."""
        if self._closed:
            raise RuntimeError("this PeerNetwork is closed")
        rejected: list[socket.socket] = []
        try:
            while True:
                listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                listener.bind((self.host, 0))
                if listener.getsockname()[1] not in self.avoid_ports:
                    break
                rejected.append(listener)  # held open, so the next bind gets another port
        finally:
            for sock in rejected:
                sock.close()
        listener.listen(64)
        listener.setblocking(False)
        link = _Link(src, dst, name, listener, (self.host, target_port))
        self._call("add", link)
        return link.port

    def set_state(self, pairs: Iterable[tuple[int, int]], state: str) -> None:
        """Put every link from ``src`` to ``dst`` for each ``(src, dst)`` in
        ``pairs`` (both ports) into ``state``; links not named keep theirs."""
        if state not in _STATES:
            raise ValueError(f"state must be one of {_STATES}, not {state!r}")
        self._call("state", (frozenset(pairs), state))

    def heal(self) -> None:
        """Every link open again (impairments stay: :meth:`unimpair`)."""
        self._call("heal", None)

    def unimpair(self) -> None:
        """No link impaired any more; what waits goes on at once."""
        self._call("unimpair", None)

    def impair(self, pairs: Iterable[tuple[int, int]], delay: float = 0.0, jitter: float = 0.0, loss: float = 0.0,
               rto: float = 0.2) -> None:
        """Delay (and "lose") what the links from ``src`` to ``dst`` carry,
        both ways, for each ``(src, dst)`` in ``pairs`` (see the module
        docstring); ``delay=jitter=loss=0`` ends it for those links."""
        if min(delay, jitter, loss, rto) < 0 or loss > 1:
            raise ValueError("delay, jitter and rto must be >= 0, loss in [0, 1]")
        impairment = Impairment(delay, jitter, loss, rto) if (delay or jitter or loss) else None
        self._call("impair", (frozenset(pairs), impairment))

    def impairment(self, src: int, dst: int) -> Optional[Impairment]:
        """The impairment of the links from ``src`` to ``dst`` (None: none)."""
        found = {link.impairment for (s, d, _), link in list(self._links.items()) if (s, d) == (src, dst)}
        if not found:
            raise KeyError((src, dst))
        return found.pop() if len(found) == 1 else next(i for i in found if i is not None)

    def state(self, src: int, dst: int) -> str:
        """The state of the links from ``src`` to ``dst``."""
        states = {link.state for (s, d, _), link in list(self._links.items()) if (s, d) == (src, dst)}
        if not states:
            raise KeyError((src, dst))
        return states.pop() if len(states) == 1 else ",".join(sorted(states))

    def connection_count(self, src: int, dst: int) -> int:
        """Connections currently proxied (or held) from ``src`` to ``dst``."""
        return sum(len(link.pairs) for (s, d, _), link in list(self._links.items()) if (s, d) == (src, dst))

    def close(self) -> None:
        """Close every listener and connection and stop the thread."""
        if self._closed:
            return
        self._call("close", None)
        self._thread.join(timeout=5)

    def __enter__(self) -> "PeerNetwork":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, op: str, arg: object) -> None:
        """Run a command on the selector thread and wait for it."""
        if self._closed:
            raise RuntimeError("this PeerNetwork is closed")
        done = threading.Event()
        self._commands.put((op, arg, done))
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if not done.wait(timeout=10):
            raise RuntimeError(f"PeerNetwork did not apply {op!r} within 10 s")

    # -- the selector thread ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._closed:
                timeout = 0.5
                if self._delaying:
                    due = min(min(p.delayed[0][0][0] if p.delayed[0] else 1e18,
                                  p.delayed[1][0][0] if p.delayed[1] else 1e18) for p in self._delaying)
                    timeout = min(timeout, max(0.0, due - time.monotonic()))
                for key, events in self._selector.select(timeout):
                    kind, obj = key.data
                    if kind == "wake":
                        self._drain_commands()
                    elif kind == "listen":
                        self._accept(obj)
                    else:
                        self._service(obj, key.fileobj, events)
                if self._delaying:
                    self._release_due()
        except Exception:  # noqa: BLE001 - a dead proxy must say why
            LOG.exception("PeerNetwork thread failed")
        finally:
            self._shutdown()

    def _drain_commands(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass
        while True:
            try:
                op, arg, done = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                if op == "add":
                    link = arg
                    self._links[(link.src, link.dst, link.name)] = link
                    self._selector.register(link.listener, selectors.EVENT_READ, ("listen", link))
                elif op == "state":
                    pairs, state = arg
                    for link in list(self._links.values()):
                        if (link.src, link.dst) in pairs:
                            self._set_link_state(link, state)
                elif op == "heal":
                    for link in list(self._links.values()):
                        self._set_link_state(link, OPEN)
                elif op == "unimpair":
                    for link in list(self._links.values()):
                        self._set_impairment(link, None)
                elif op == "impair":
                    pairs, impairment = arg
                    for link in list(self._links.values()):
                        if (link.src, link.dst) in pairs:
                            self._set_impairment(link, impairment)
                elif op == "close":
                    self._closed = True
            finally:
                done.set()

    def _set_link_state(self, link: _Link, state: str) -> None:
        if link.state == state:
            return
        LOG.info("link %d->%d (%s): %s -> %s", link.src, link.dst, link.name, link.state, state)
        link.state = state
        for pair in list(link.pairs):
            if state == REFUSE:
                self._close_pair(pair)
            elif state == OPEN and pair.socks[1] is None:
                self._dial(pair)
            else:
                self._update_interest(pair)

    def _set_impairment(self, link: _Link, impairment: Optional[Impairment]) -> None:
        if link.impairment == impairment:
            return
        LOG.info("link %d->%d (%s): impairment %s -> %s", link.src, link.dst, link.name, link.impairment, impairment)
        link.impairment = impairment
        if impairment is None:  # what waits goes on now, in order
            for pair in list(link.pairs):
                self._release(pair, float("inf"))

    def _release_due(self) -> None:
        now = time.monotonic()
        for pair in list(self._delaying):
            self._release(pair, now)

    def _release(self, pair: _Pair, now: float) -> None:
        """Hand the chunks due by ``now`` on, as if just read."""
        if pair.closed:
            self._delaying.discard(pair)
            return
        for side in (0, 1):
            queue_ = pair.delayed[side]
            moved = False
            while queue_ and queue_[0][0] <= now:
                _, data = queue_.popleft()
                pair.delayed_bytes[side] -= len(data)
                pair.bufs[side] += data
                moved = True
            if not queue_ and pair.eof_delayed[side]:
                pair.eof_delayed[side] = False
                pair.eof[side] = True
                moved = True
            if moved:
                try:
                    self._flush(pair, 1 - side)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    self._close_pair(pair)
                    return
        if not (pair.delayed[0] or pair.delayed[1]):
            self._delaying.discard(pair)
        if not pair.closed:
            self._update_interest(pair)

    def _accept(self, link: _Link) -> None:
        try:
            sock, _ = link.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        link.accepted += 1
        if link.state == REFUSE:
            sock.close()
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pair = _Pair(link, sock)
        link.pairs.add(pair)
        if link.state == OPEN:
            self._dial(pair)
        # BLACKHOLE: held, unread, until the link opens again.

    def _dial(self, pair: _Pair) -> None:
        # Loopback connects finish (or are refused) at once, even when the
        # target process is stopped: the kernel completes the handshake.
        try:
            upstream = socket.create_connection(pair.link.target, timeout=2.0)
        except OSError:
            self._close_pair(pair)
            return
        upstream.setblocking(False)
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pair.socks[1] = upstream
        self._update_interest(pair)

    def _service(self, pair: _Pair, sock: socket.socket, events: int) -> None:
        if pair.closed:
            return
        side = 0 if sock is pair.socks[0] else 1
        try:
            if events & selectors.EVENT_READ:
                data = sock.recv(65536)
                impairment = pair.link.impairment
                if impairment is not None or pair.delayed[side]:
                    # Behind an impairment (or chunks still waiting on an
                    # ended one): queue, to go on when due.
                    if data:
                        hold = impairment.hold(self._rng) if impairment is not None else 0.0
                        at = max(time.monotonic() + hold, pair.release_at[side])
                        pair.release_at[side] = at
                        pair.delayed[side].append((at, data))
                        pair.delayed_bytes[side] += len(data)
                    else:
                        pair.eof_delayed[side] = True
                    self._delaying.add(pair)
                elif data:
                    pair.bufs[side] += data
                else:
                    pair.eof[side] = True
                self._flush(pair, 1 - side)
            if events & selectors.EVENT_WRITE and not pair.closed:
                self._flush(pair, side)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._close_pair(pair)
            return
        if not pair.closed:
            self._update_interest(pair)

    def _flush(self, pair: _Pair, side: int) -> None:
        """Write what the other side sent to ``side``; pass on its EOF."""
        sock = pair.socks[side]
        pending = pair.bufs[1 - side]
        if sock is None or pair.link.state != OPEN:
            return
        if pending:
            sent = sock.send(pending)
            del pending[:sent]
        if not pending and pair.eof[1 - side] and not pair.shut[side]:
            pair.shut[side] = True
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        if all(pair.shut):
            self._close_pair(pair)

    def _update_interest(self, pair: _Pair) -> None:
        if pair.closed:
            return
        flowing = pair.link.state == OPEN and pair.socks[1] is not None
        for side in (0, 1):
            sock = pair.socks[side]
            if sock is None:
                continue
            events = 0
            if flowing:
                if (not pair.eof[side] and not pair.eof_delayed[side]
                        and len(pair.bufs[side]) + pair.delayed_bytes[side] < _BUFFER_LIMIT):
                    events |= selectors.EVENT_READ
                if pair.bufs[1 - side]:
                    events |= selectors.EVENT_WRITE
            try:
                registered = self._selector.get_key(sock)
            except KeyError:
                registered = None
            if events == 0:
                if registered is not None:
                    self._selector.unregister(sock)
            elif registered is None:
                self._selector.register(sock, events, ("pair", pair))
            elif registered.events != events:
                self._selector.modify(sock, events, ("pair", pair))

    def _close_pair(self, pair: _Pair) -> None:
        if pair.closed:
            return
        pair.closed = True
        pair.link.pairs.discard(pair)
        self._delaying.discard(pair)
        for sock in pair.socks:
            if sock is None:
                continue
            try:
                self._selector.unregister(sock)
            except (KeyError, ValueError):
                pass
            sock.close()

    def _shutdown(self) -> None:
        self._closed = True
        for link in self._links.values():
            for pair in list(link.pairs):
                self._close_pair(pair)
            try:
                self._selector.unregister(link.listener)
            except (KeyError, ValueError):
                pass
            link.listener.close()
        # Release whoever waits on a command that will never run.
        while True:
            try:
                _, _, done = self._commands.get_nowait()
            except queue.Empty:
                break
            done.set()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()
