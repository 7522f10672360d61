"""A txn log whose disk fills (ENOSPC) in the middle of a write.

No entry that was still buffered when the write failed had been
acknowledged (that waits for commit), so the log drops them all and cuts
the file back to its last whole entry: readers see a clean log, not a torn
write that every later flush would retry, and appends go on once there is
room again.
"""

from __future__ import annotations

import errno
import os

import pytest

from zkpy.server.persistence import file_txn_log as ftl
from zkpy.server.persistence.file_txn_log import FileTxnLog

from .test_file_txn_log import txn, write, zxids


def test_a_failed_write_leaves_the_last_whole_entry_and_appends_go_on(tmp_path, monkeypatch):
    log = FileTxnLog(tmp_path, pre_alloc_size=4096)
    write(log, [1, 2, 3])
    real_write = os.write
    calls = []

    def full_disk(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[:10]))  # part of an entry reaches the disk ...
        raise OSError(errno.ENOSPC, "No space left on device")  # ... then the disk is full

    monkeypatch.setattr(ftl.os, "write", full_disk)
    log.append(*txn(4))
    log.append(*txn(5))
    with pytest.raises(OSError) as failed:
        log.commit()
    assert failed.value.errno == errno.ENOSPC
    monkeypatch.setattr(ftl.os, "write", real_write)
    # Reading retries no write and finds no torn entry.
    assert log.get_last_logged_zxid() == 3
    with log.read(1) as it:
        assert zxids(it) == [1, 2, 3]
    # Room again: the log goes on in the same file.
    write(log, [6])
    log.close()
    reopened = FileTxnLog(tmp_path)
    with reopened.read(1) as it:
        assert zxids(it) == [1, 2, 3, 6]
    assert len(reopened.list_logs()) == 1
