"""zkpy.testing: TestingServer's lifecycle, the four-letter-word client and
expire_session's handling of a lost reply.

The real server is not needed: a tiny fake that answers ``ruok`` and
``srvr`` stands in for ``python -m zkpy``, and a scripted one answers the
session connections (the race it plays cannot be forced on a real server).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from zkpy.defs import OpCode
from zkpy.jute.archive import InputArchive, OutputArchive
from zkpy.jute.records import ConnectRequest, ConnectResponse, ReplyHeader, RequestHeader
from zkpy.server.config import ServerConfig
from zkpy.testing import TestingServer, TestingServerError, expire_session, find_free_port, four_letter_word

FAKE_SERVER = textwrap.dedent(
    """
    import socket, sys
    from zkpy.server.config import ServerConfig
    cfg = ServerConfig.parse(sys.argv[1])
    if cfg.raw.get("fake.fail"):
        print("fake server failing on purpose", flush=True)
        sys.exit(3)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(cfg.client_address)
    srv.listen(16)
    print("fake server listening", cfg.client_address, flush=True)
    while True:
        conn, _ = srv.accept()
        word = conn.recv(4)
        if word == b"ruok":
            conn.sendall(b"imok")
        elif word == b"srvr":
            conn.sendall(b"Zookeeper version: fake\\nMode: standalone\\n")
        conn.close()
    """
)


class FakeServer(TestingServer):
    def command(self):
        return [sys.executable, "-c", FAKE_SERVER, self.config_path]


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_dead(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


# -- pure parts ----------------------------------------------------------------------------


def test_find_free_port_is_bindable():
    port = find_free_port()
    assert 0 < port < 65536
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_generated_config(tmp_path):
    server = TestingServer(temp_dir=tmp_path)
    cfg = server.build_config()
    assert cfg == {
        "tickTime": "200",
        "dataDir": str(tmp_path / "data"),
        "clientPort": str(server.port),
        "clientPortAddress": "127.0.0.1",
        "4lw.commands.whitelist": "*",
        "admin.enableServer": "false",
    }
    assert server.connect_string == f"127.0.0.1:{server.port}"
    assert server.data_dir == str(tmp_path / "data")
    assert server.config_path == str(tmp_path / "zoo.cfg")
    assert server.log_path == str(tmp_path / "server.log")
    assert server.pid is None and not server.is_running


def test_config_options(tmp_path):
    server = TestingServer(
        5555,
        temp_dir=tmp_path,
        tick_time=50,
        force_sync=False,
        config={"maxClientCnxns": 0, "localSessionsEnabled": True, "admin.enableServer": None},
        data_dir=tmp_path / "elsewhere",
    )
    cfg = server.build_config()
    assert cfg["tickTime"] == "50"
    assert cfg["clientPort"] == "5555" and server.port == 5555
    assert cfg["forceSync"] == "no"
    assert cfg["maxClientCnxns"] == "0"
    assert cfg["localSessionsEnabled"] == "true"
    assert "admin.enableServer" not in cfg
    assert cfg["dataDir"] == str(tmp_path / "elsewhere")


def test_written_config_parses(tmp_path, monkeypatch):
    monkeypatch.delenv("SERVER_JVMFLAGS", raising=False)
    monkeypatch.delenv("JVMFLAGS", raising=False)
    server = TestingServer(temp_dir=tmp_path, force_sync=False, config={"snapCount": 10})
    parsed = ServerConfig.parse(server.write_config())
    assert parsed.tick_time == 200
    assert parsed.client_address == ("127.0.0.1", server.port)
    assert parsed.data_dir == server.data_dir
    assert parsed.force_sync is False
    assert parsed.snap_count == 10
    assert parsed.is_4lw_enabled("mntr") and parsed.is_4lw_enabled("ruok")
    assert parsed.admin_enable_server is False


def test_env(tmp_path, monkeypatch):
    monkeypatch.setenv("JVMFLAGS", "-Dfrom.outer=1")
    server = TestingServer(
        temp_dir=tmp_path, jvm_flags=["-Da=b c", "-Dzookeeper.snapCount=5"], env={"EXTRA": "1"}
    )
    env = server.build_env()
    assert "JVMFLAGS" not in env
    assert env["EXTRA"] == "1"
    from zkpy.server.config import SystemProperties

    assert SystemProperties.from_environ(env).as_dict() == {"a": "b c", "zookeeper.snapCount": "5"}
    assert TestingServer(temp_dir=tmp_path, jvm_flags="-Dx=1").build_env()["SERVER_JVMFLAGS"] == "-Dx=1"


def test_close_removes_own_temp_dir_only(tmp_path):
    server = TestingServer()
    own = server.temp_dir
    assert os.path.isdir(own)
    server.close()
    assert not os.path.exists(own)

    kept = TestingServer(keep_data=True)
    kept.close()
    assert os.path.isdir(kept.temp_dir)
    os.rmdir(kept.temp_dir)

    given = TestingServer(temp_dir=tmp_path / "given")
    given.close()
    assert os.path.isdir(tmp_path / "given")


# -- four_letter_word ---------------------------------------------------------------------------


def serve_once(reply: bytes, received: list):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def run():
        conn, _ = listener.accept()
        data = b""
        while True:  # the client half-closes after the word
            chunk = conn.recv(100)
            if not chunk:
                break
            data += chunk
        received.append(data)
        for i in range(0, len(reply), 3):  # in pieces: the client reads to EOF
            conn.sendall(reply[i:i + 3])
        conn.close()
        listener.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread


def test_four_letter_word_reads_until_eof():
    received: list = []
    port, thread = serve_once(b"zk_version\t3.8.0\nzk_server_state\tstandalone\n", received)
    answer = four_letter_word("127.0.0.1", port, "mntr", timeout=5)
    thread.join(5)
    assert received == [b"mntr"]
    assert answer == "zk_version\t3.8.0\nzk_server_state\tstandalone\n"


def test_four_letter_word_payload():
    received: list = []
    port, thread = serve_once(b"306", received)
    assert four_letter_word("127.0.0.1", port, "stmk", payload=(306).to_bytes(8, "big")) == "306"
    thread.join(5)
    assert received == [b"stmk" + (306).to_bytes(8, "big")]


def test_four_letter_word_refused_and_bad_word():
    with pytest.raises(OSError):
        four_letter_word("127.0.0.1", find_free_port(), "ruok", timeout=2)
    with pytest.raises(ValueError):
        four_letter_word("127.0.0.1", 1, "ruokk")


# -- lifecycle with a fake server process ---------------------------------------------------------


def test_lifecycle(tmp_path):
    with FakeServer(temp_dir=tmp_path) as server:
        pid = server.pid
        assert pid and server.is_running
        assert server.four_letter_word("ruok") == "imok"
        assert "fake server listening" in server.log_tail()

        server.restart()
        assert server.pid != pid and not pid_alive(pid)
        assert server.four_letter_word("ruok") == "imok"

        pid = server.pid
        server.kill()
        assert server.returncode == -signal.SIGKILL
        assert server.pid is None and not pid_alive(pid)

        server.start()
        pid = server.pid
        server.stop()
        assert server.returncode == -signal.SIGTERM
        server.start()
        pid = server.pid
    assert not pid_alive(pid)
    assert (tmp_path / "server.log").read_text().count("---- zkpy.testing: starting") == 4


def test_start_failure_shows_log(tmp_path):
    server = FakeServer(temp_dir=tmp_path, config={"fake.fail": "yes"})
    with pytest.raises(TestingServerError) as info:
        server.start()
    assert "exited with status 3" in str(info.value)
    assert "fake server failing on purpose" in str(info.value)
    server.close()


def test_start_timeout_kills_server(tmp_path):
    class Silent(TestingServer):
        def command(self):
            return [sys.executable, "-c", "import time; print('silent', flush=True); time.sleep(60)"]

    server = Silent(temp_dir=tmp_path, start_timeout=1.0)
    with pytest.raises(TestingServerError, match="did not answer ruok"):
        server.start()
    assert not server.is_running
    server.close()


CHILD = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {tests_dir!r})
    from unit.test_testing import FakeServer
    server = FakeServer(temp_dir={temp_dir!r}, start=True)
    print(server.pid, flush=True)
    if sys.argv[1] == "crash":
        os._exit(0)  # no atexit, no finalisers: only PR_SET_PDEATHSIG is left
    # normal exit without close(): the atexit hook must kill the server
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
@pytest.mark.parametrize("how", ["crash", "exit"])
def test_server_never_outlives_its_parent(tmp_path, how):
    tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = CHILD.format(tests_dir=tests_dir, temp_dir=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-c", script, how], capture_output=True, text=True, timeout=60,
        cwd=os.path.dirname(tests_dir),
    )
    assert out.returncode == 0, out.stderr
    pid = int(out.stdout.strip())
    assert wait_dead(pid), f"server {pid} outlived its parent ({how})"


# -- Java ZooKeeper for the interop tier: missing means skipped, saying why ---------------------------


def test_interop_tests_skip_with_the_reason_when_java_zookeeper_is_missing(tmp_path, monkeypatch):
    from zkpy import testing_java

    monkeypatch.setattr(testing_java, "ZOOKEEPER_JAR", str(tmp_path / "zookeeper.jar"))
    ok, reason = testing_java.JavaZooKeeperServer.available()
    assert not ok
    assert "Java ZooKeeper is not installed" in reason and "apt-get install zookeeper" in reason
    with pytest.raises(pytest.skip.Exception, match="apt-get install zookeeper"):
        testing_java.skip_unless_available()


def _serve_session_script(listener: socket.socket, script, seen: list) -> None:
    """Per connection: a ConnectResponse with the script's timeOut, then (if
    it is > 0) read closeSession and answer it, or hang up when told not to."""
    def read_frame(conn):
        data = b""
        while len(data) < 4 or len(data) < 4 + int.from_bytes(data[:4], "big"):
            chunk = conn.recv(65536)
            if not chunk:
                raise ConnectionError("the helper hung up")
            data += chunk
        return data[4:]

    def send_record(conn, record):
        out = OutputArchive()
        record.serialize(out)
        conn.sendall(len(out.buf).to_bytes(4, "big") + bytes(out.buf))

    for time_out, answer_close in script:
        conn, _ = listener.accept()
        with conn:
            request = ConnectRequest.deserialize(InputArchive(read_frame(conn)))
            send_record(conn, ConnectResponse(0, time_out, request.sessionId if time_out > 0 else 0, b"\0" * 16))
            if time_out <= 0:
                seen.append((request.sessionId, None))
                continue
            header = RequestHeader.deserialize(InputArchive(read_frame(conn)))
            seen.append((request.sessionId, header.type))
            if answer_close:
                send_record(conn, ReplyHeader(header.xid, 0x100000005, 0))


@pytest.mark.parametrize("second_time_out, answer_close, connections", [
    (0, None, 2),         # the session is gone when the helper asks again: its close did it
    (30000, True, 2),     # the session still lives: the second close does it
])
def test_expire_session_when_the_reply_to_its_close_is_lost(second_time_out, answer_close, connections):
    """The session's client reconnects to the same server while the helper's
    closeSession is in flight, and the server closes the helper's older
    connection before the reply: the helper asks again and reports the
    session closed."""
    script = [(30000, False), (second_time_out, answer_close)]
    with socket.create_server(("127.0.0.1", 0)) as listener:
        seen: list = []
        server = threading.Thread(target=_serve_session_script, args=(listener, script, seen), daemon=True)
        server.start()
        assert expire_session("127.0.0.1", listener.getsockname()[1], 0x1234, b"p" * 16, timeout=5.0) is True
        server.join(5)
    assert seen[0] == (0x1234, int(OpCode.closeSession))
    assert len(seen) == connections


def test_expire_session_of_an_expired_session_is_false():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        seen: list = []
        server = threading.Thread(target=_serve_session_script, args=(listener, [(0, None)], seen), daemon=True)
        server.start()
        assert expire_session("127.0.0.1", listener.getsockname()[1], 0x1234, b"p" * 16, timeout=5.0) is False
        server.join(5)
    assert seen == [(0x1234, None)]
