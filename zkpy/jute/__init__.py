"""Jute, ZooKeeper's serialization: archives (``archive``) and records (``records``)."""

from .archive import DEFAULT_MAX_BUFFER, InputArchive, JuteEOFError, JuteError, OutputArchive
from .record import Record, Vector, record

__all__ = [
    "DEFAULT_MAX_BUFFER", "InputArchive", "JuteEOFError", "JuteError", "OutputArchive",
    "Record", "Vector", "record",
]
