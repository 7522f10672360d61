"""Election notification bytes.

Java: ``FastLeaderElection.buildMsg`` and the parsing half of
``FastLeaderElection.Messenger.WorkerReceiver``. The current format
(version 2) is 44 bytes plus the sender's config text; the 28-byte (no
peer epoch) and 40-byte (no version) formats of older peers are still
read, as Java does (ZK_SPEC.md §4.2).
"""

from __future__ import annotations

import struct
from typing import Optional

import attrs

from .vote import NOTIFICATION_VERSION, ServerState, Vote

_HEAD = struct.Struct(">iqqqqii")   # state leader zxid electionEpoch peerEpoch version configLen
_HEAD28 = struct.Struct(">iqqq")
_LONG = struct.Struct(">q")
_INT = struct.Struct(">i")

MIN_LENGTH = 28


class NotificationError(ValueError):
    """A malformed notification (Java logs and skips it)."""


@attrs.frozen
class Notification:
    """A received vote: who sent it (``sid``) and what it says."""

    sid: int
    state_ordinal: int
    leader: int
    zxid: int
    election_epoch: int
    peer_epoch: int
    version: int = 0
    #: The sender's config text, when the format carries one.
    config: Optional[str] = None

    @property
    def state(self) -> Optional[ServerState]:
        """The sender's state, or None for an ordinal Java would skip."""
        try:
            return ServerState(self.state_ordinal)
        except ValueError:
            return None

    def vote(self) -> Vote:
        return Vote(self.leader, self.zxid, self.election_epoch, self.peer_epoch,
                    self.state or ServerState.LOOKING, self.version)


def build_msg(state: int, leader: int, zxid: int, election_epoch: int, peer_epoch: int,
              config: bytes) -> bytes:
    """A version-2 notification, byte for byte as Java's buildMsg."""
    return _HEAD.pack(int(state), leader, zxid, election_epoch, peer_epoch, NOTIFICATION_VERSION,
                      len(config)) + config


def parse_notification(sid: int, payload: bytes) -> Notification:
    """Decode what ``sid`` sent; raises NotificationError when Java would
    drop it (too short, a bad config length, truncated)."""
    capacity = len(payload)
    if capacity < MIN_LENGTH:
        raise NotificationError(f"Got a short response from server {sid}: {capacity}")
    state, leader, zxid, election_epoch = _HEAD28.unpack_from(payload, 0)
    version = 0
    config = None
    if capacity == MIN_LENGTH:
        peer_epoch = zxid >> 32  # no peer epoch before ZK-107: the zxid's
        return Notification(sid, state, leader, zxid, election_epoch, peer_epoch, version)
    try:
        (peer_epoch,) = _LONG.unpack_from(payload, 28)
        if capacity != 40:
            (version,) = _INT.unpack_from(payload, 36)
        if version > 0x1:
            (config_len,) = _INT.unpack_from(payload, 40)
            if config_len < 0 or config_len > capacity:
                raise NotificationError(
                    f"Invalid configLength in notification message! sid={sid}, capacity={capacity}, "
                    f"version={version}, configLength={config_len}")
            raw = payload[44:44 + config_len]
            if len(raw) != config_len:
                raise NotificationError(f"truncated config in notification from {sid}")
            config = raw.decode("utf-8", errors="replace")
    except struct.error as e:
        raise NotificationError(f"partial or malformed notification from sid={sid} "
                                f"(message length: {capacity}): {e}") from None
    return Notification(sid, state, leader, zxid, election_epoch, peer_epoch, version, config)
