"""POP3 before login in front, under clients that misbehave: a CAPA flood
from a client that does not read (bounded output, others still served), TLS
handshakes that never come (login_timeout covers them), final replies that
are never read (dropped after the close grace), replies queued before a
pipelined login (not lost at the hand-off to mail), AUTH exchanges that end
early, and a login_timeout that fires during the failed-login delay (the
session is not revived). Raw sockets and python poplib."""
import base64
import poplib
import re
import socket
import time

import pytest

from smtpclient import Raw
from test_smtp import make

ALICE, PW = "alice@example.test", "pw-alice"
LOGIN_TIMEOUT = 2      # seconds, as configured below
CLOSE_GRACE = 5        # POP3_CLOSE_GRACE in pop3-login.c


@pytest.fixture(scope="module")
def pop():
    y = make("plain", f"login_timeout = {LOGIN_TIMEOUT}s\n"
             "auth_failure_delay = 300ms\nauth_failure_max_delay = 300ms\n")
    yield y
    y.stop()
    y.cleanup()


def prelogin(y):
    m = re.search(r"\bpop3_prelogin=(\d+)", y.status())
    assert m, y.status()
    return int(m.group(1))


def wait_prelogin(y, n, timeout=20):
    y.wait_for(lambda: prelogin(y) == n, timeout=timeout, what=f"pop3_prelogin={n}")


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(l for l in f if l.startswith("VmRSS:")).split()[1])


def stalled(port):
    """A client with a tiny receive window and small segments: the kernel
    holds only some 40 KB of replies it does not read, the rest backs up
    in front."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s


def read_to_eof(s, timeout=10):
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return data
            data += d
    except ConnectionResetError:
        return data


def flood(sock, seconds=3):
    """CAPA as fast as front takes it, never reading the replies: some 54 MB
    of them if front kept reading."""
    sock.settimeout(seconds)
    try:
        sock.sendall(b"CAPA\r\n" * 400000)
        time.sleep(2)
    except socket.timeout:
        pass                          # front stopped reading: as it should


def serves_another_client(y):
    p = poplib.POP3("127.0.0.1", y.ports["pop3"], timeout=10)
    assert "UIDL" in p.capa()
    p.user(ALICE)
    assert p.pass_(PW).startswith(b"+OK")
    assert p.stat() == (0, 0)
    assert p.quit().startswith(b"+OK")


def test_capa_flood_costs_bounded_memory(pop):
    wait_prelogin(pop, 0)
    front = pop.roles()["front"][0]
    before = rss_kb(front)
    c = Raw(pop.ports["pop3"])
    assert c._line().startswith("+OK")
    flood(c.sock)
    grown = rss_kb(front) - before
    assert grown < 16 * 1024, f"front grew by {grown} KiB"
    serves_another_client(pop)
    # the flooder never reads its "-ERR Disconnected for inactivity" either:
    # dropped all the same after login_timeout and the close grace
    wait_prelogin(pop, 0, timeout=LOGIN_TIMEOUT + CLOSE_GRACE + 5)
    assert read_to_eof(c.sock).count(b"+OK Capability list follows") > 0
    c.close()


def test_capa_flood_after_stls_costs_bounded_memory(pop):
    wait_prelogin(pop, 0)
    front = pop.roles()["front"][0]
    before = rss_kb(front)
    c = Raw(pop.ports["pop3"])
    assert c._line().startswith("+OK")
    c.send("STLS\r\n")
    assert c._line().startswith("+OK")
    c.starttls()
    flood(c.sock)
    grown = rss_kb(front) - before
    assert grown < 16 * 1024, f"front grew by {grown} KiB"
    serves_another_client(pop)
    wait_prelogin(pop, 0, timeout=LOGIN_TIMEOUT + CLOSE_GRACE + 5)
    c.close()


def test_tls_handshake_counts_in_login_timeout(pop):
    wait_prelogin(pop, 0)
    # pop3s: connects, never says a word
    s = socket.create_connection(("127.0.0.1", pop.ports["pop3s"]), timeout=10)
    # pop3: STLS accepted, then no handshake
    c = Raw(pop.ports["pop3"])
    assert c._line().startswith("+OK")
    c.send("STLS\r\n")
    assert c._line() == "+OK Begin TLS negotiation"
    t0 = time.time()
    assert prelogin(pop) == 2
    assert s.recv(100) == b""
    assert c.sock.recv(100) == b""
    assert time.time() - t0 < LOGIN_TIMEOUT + 1.5
    s.close()
    c.close()
    wait_prelogin(pop, 0, timeout=3)


@pytest.mark.parametrize("last,reply", [("QUIT", b"+OK Bye"),
                                        ("FROB\r\nFROB\r\nFROB", b"Too many bad commands")])
def test_unread_last_reply_is_dropped_after_grace(pop, last, reply):
    wait_prelogin(pop, 0)
    s = stalled(pop.ports["pop3"])
    # some 80 KB of replies, in steps: front reads every command (less than
    # 64 KB are waiting at any time), the kernel holds only half of them
    for _ in range(4):
        s.sendall(b"CAPA\r\n" * 150)
        time.sleep(0.2)
    s.sendall(last.encode() + b"\r\n")
    t0 = time.time()
    time.sleep(1.5)
    assert prelogin(pop) == 1         # the last reply is stuck behind the others
    wait_prelogin(pop, 0, timeout=CLOSE_GRACE + 3)
    assert time.time() - t0 >= CLOSE_GRACE - 1.5
    data = read_to_eof(s)
    assert reply not in data          # it never left front
    assert data.count(b"+OK Capability list follows") > 100
    s.close()


def test_replies_queued_before_login_reach_the_client(pop):
    """USER's +OK and the CAPA lists before it are still in front's buffer
    when auth says yes: the hand-off to mail waits until they are sent."""
    wait_prelogin(pop, 0)
    s = stalled(pop.ports["pop3"])
    n = 450                           # some 60 KB of replies
    s.sendall(b"CAPA\r\n" * n + f"USER {ALICE}\r\nPASS {PW}\r\nSTAT\r\nQUIT\r\n".encode())
    time.sleep(1)                     # the login is checked meanwhile
    lines = read_to_eof(s).split(b"\r\n")
    s.close()
    assert lines[0].startswith(b"+OK") and lines[-1] == b""
    assert lines.count(b"+OK Capability list follows") == n
    assert lines.count(b"IMPLEMENTATION youju") == n
    tail = lines[-5:-1]
    assert tail[0] == b"+OK", tail                      # USER, from front
    assert tail[1].startswith(b"+OK"), tail             # PASS, from mail
    assert tail[2] == b"+OK 0 0", tail                  # STAT
    assert tail[3].startswith(b"+OK"), tail             # QUIT
    wait_prelogin(pop, 0)


def test_auth_exchange_ends_cleanly(pop):
    wait_prelogin(pop, 0)
    c = Raw(pop.ports["pop3"])
    assert c._line().startswith("+OK")
    # acting as somebody else (RFC 4616 authzid) is refused before any check
    ir = base64.b64encode(f"bob@example.test\0{ALICE}\0{PW}".encode()).decode()
    c.send(f"AUTH PLAIN {ir}\r\n")
    assert c._line() == "-ERR [AUTH] Authorization identity not allowed"
    # a response line over the limit ends the exchange: CAPA is a command again
    c.send("AUTH PLAIN\r\n")
    assert c._line() == "+ "
    c.send("A" * 9000 + "\r\nCAPA\r\n")
    assert c._line() == "-ERR Command line too long"
    assert c._line() == "+OK Capability list follows"
    while c._line() != ".":
        pass
    # the same identity twice is fine: logged in, mail answers
    ir = base64.b64encode(f"{ALICE}\0{ALICE}\0{PW}".encode()).decode()
    c.send(f"AUTH PLAIN {ir}\r\nSTAT\r\nQUIT\r\n")
    assert c._line().startswith("+OK")
    assert c._line() == "+OK 0 0"
    assert c._line().startswith("+OK")
    assert c.closed()
    wait_prelogin(pop, 0)


def test_login_timeout_during_failed_login_delay():
    """The failed PASS waits 4 s for its answer; login_timeout ends the
    session at 2 s: the delayed answer must not revive it."""
    y = make("asan", f"login_timeout = {LOGIN_TIMEOUT}s\n"
             "auth_failure_delay = 4s\nauth_failure_max_delay = 4s\n")
    try:
        c = Raw(y.ports["pop3"])
        assert c._line().startswith("+OK")
        c.send("STLS\r\n")
        assert c._line().startswith("+OK")
        c.starttls()
        c.send(f"USER {ALICE}\r\n")
        assert c._line() == "+OK"
        c.send("PASS wrong-secret-x9\r\n")
        assert c._line() == "-ERR Disconnected for inactivity"
        log = y.read_log()
        assert "pop3 login failed" in log     # it came during the delay
        assert "wrong-secret-x9" not in log
        # nothing more: no "-ERR [AUTH] Authentication failed" 2 s later,
        # and the session ends (TLS: at the latest when the grace is over)
        closed = c.closed(timeout=CLOSE_GRACE + 3)
        assert c.buf == b"", c.buf
        assert closed
        wait_prelogin(y, 0, timeout=3)
        c.close()
    finally:
        y.stop()
        y.cleanup()
