"""IMAP before login in front, on 143 (STARTTLS) and 993 (implicit TLS):
greeting and CAPABILITY, the plaintext policy (LOGINDISABLED), STARTTLS
injection, LOGIN and AUTHENTICATE PLAIN/LOGIN with SASL-IR, delayed and
indistinguishable failures, limits, login_timeout, and the hand-off of a
logged-in connection, with its pipelined input, to the mail role. Real
clients: python imaplib, raw sockets."""
import base64
import imaplib
import re
import socket
import ssl
import time

import pytest

from smtpclient import Raw
from test_smtp import make

NOVERIFY = ssl._create_unverified_context()
ALICE, PW = "alice@example.test", "pw-alice"


def b64(data):
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def imap():
    # failures from 127.0.0.1 cost 300 ms each, never more
    y = make("plain", "auth_failure_delay = 300ms\nauth_failure_max_delay = 300ms\n")
    yield y
    y.stop()
    y.cleanup()


@pytest.fixture(scope="module")
def strict():
    """Passwords only over TLS, even from loopback; a short login_timeout."""
    y = make("plain", "auth_allow_plaintext = no\nlogin_timeout = 1s\n"
             "auth_failure_delay = 300ms\nauth_failure_max_delay = 300ms\n")
    yield y
    y.stop()
    y.cleanup()


class Client(Raw):
    """Raw IMAP: greeting read, tagged commands, every line kept."""

    def __init__(self, port, tls=False):
        super().__init__(port)
        if tls:
            self.starttls()
        self.greeting = self._line()

    def until(self, tag):
        """Lines up to and including the tagged reply for tag."""
        lines = []
        while True:
            lines.append(self._line())
            if lines[-1].startswith(tag + " "):
                return lines

    def cmd(self, tag, text):
        self.send(f"{tag} {text}\r\n")
        return self.until(tag)

    def silent(self, seconds=1.0):
        """Nothing arrives for a while (and the connection stays open)."""
        self.sock.settimeout(seconds)
        try:
            data = self.sock.recv(100)
        except socket.timeout:
            data = None
        self.sock.settimeout(10)
        return data is None and self.buf == b""


def caps(line):
    m = re.search(r"\[CAPABILITY ([^\]]*)\]", line)
    assert m, line
    return m.group(1).split()


def capability(c, tag="c"):
    lines = c.cmd(tag, "CAPABILITY")
    assert lines[-1] == f"{tag} OK Capability completed", lines
    (untagged,) = [l for l in lines if l.startswith("* CAPABILITY ")]
    return untagged.split()[2:]


def test_greeting_and_capability_on_loopback(imap):
    c = Client(imap.ports["imap"])
    assert c.greeting.startswith("* OK [CAPABILITY ") and c.greeting.endswith("] youju IMAP ready")
    g = caps(c.greeting)
    for cap in ("IMAP4rev1", "IMAP4rev2", "STARTTLS", "AUTH=PLAIN", "AUTH=LOGIN", "SASL-IR", "ID"):
        assert cap in g, g
    # loopback may send passwords in the clear (auth_allow_plaintext = loopback)
    assert "LOGINDISABLED" not in g
    assert capability(c) == g
    lines = c.cmd("n", "NOOP")
    assert lines == ["n OK NOOP completed"]
    lines = c.cmd("i", 'ID ("name" "pytest" "version" NIL)')
    assert lines == ['* ID ("name" "youju")', "i OK ID completed"]
    assert c.cmd("j", "ID NIL")[-1] == "j OK ID completed"
    assert c.cmd("k", "ID (\"name\")")[-1].startswith("k BAD")      # odd list
    assert c.cmd("l", "LOGOUT") == ["* BYE Logging out", "l OK Logout completed"]
    assert c.closed()


def test_logindisabled_until_starttls(strict):
    c = Client(strict.ports["imap"])
    g = caps(c.greeting)
    assert "LOGINDISABLED" in g and "STARTTLS" in g
    assert not [x for x in g if x.startswith("AUTH=")]
    lines = c.cmd("a", f"LOGIN {ALICE} {PW}")
    assert lines[-1].startswith("a NO [PRIVACYREQUIRED] ")
    lines = c.cmd("b", "AUTHENTICATE PLAIN " + b64(f"\0{ALICE}\0{PW}".encode()))
    assert lines[-1].startswith("b NO [PRIVACYREQUIRED] ")
    # a password in a literal is not even asked for
    c.send("d LOGIN {18}\r\n")
    assert c._line().startswith("d NO [PRIVACYREQUIRED] ")
    assert c.cmd("e", "STARTTLS") == ["e OK Begin TLS negotiation now"]
    c.starttls()
    after = capability(c, "f")
    assert "LOGINDISABLED" not in after and "STARTTLS" not in after
    assert "AUTH=PLAIN" in after and "AUTH=LOGIN" in after
    assert c.cmd("g", "STARTTLS")[-1].startswith("g BAD")   # already TLS
    lines = c.cmd("h", f"LOGIN {ALICE} {PW}")
    assert lines[-1].startswith("h OK [CAPABILITY ") and lines[-1].endswith("] Logged in")
    c.close()


def test_imaplib_starttls_login(strict):
    m = imaplib.IMAP4("127.0.0.1", strict.ports["imap"], timeout=10)
    assert "LOGINDISABLED" in m.capabilities
    m.starttls(ssl_context=NOVERIFY)
    assert "LOGINDISABLED" not in m.capabilities and "AUTH=PLAIN" in m.capabilities
    typ, data = m.login(ALICE, PW)
    assert typ == "OK" and b"Logged in" in data[0]
    m.logout()


def test_starttls_discards_injected_commands(imap):
    c = Client(imap.ports["imap"])
    c.send("a STARTTLS\r\nb CAPABILITY\r\n")          # one write
    assert c._line() == "a OK Begin TLS negotiation now"
    assert c.buf == b""
    c.starttls()
    assert c.silent(1.5), c.buf                       # b got no answer, in or out of TLS
    caps_tls = capability(c, "c")
    assert "STARTTLS" not in caps_tls and "AUTH=PLAIN" in caps_tls
    assert c.cmd("d", "LOGOUT")[-1] == "d OK Logout completed"


def test_imaps_implicit_tls(imap):
    c = Client(imap.ports["imaps"], tls=True)
    g = caps(c.greeting)
    assert "STARTTLS" not in g and "AUTH=PLAIN" in g and "LOGINDISABLED" not in g
    c.close()
    m = imaplib.IMAP4_SSL("127.0.0.1", imap.ports["imaps"], ssl_context=NOVERIFY, timeout=10)
    typ, _ = m.login(ALICE, PW)
    assert typ == "OK"
    typ, data = m.select("INBOX")
    assert typ == "OK"
    m.logout()


@pytest.mark.parametrize("service", ["imap", "imaps"])
def test_login_hands_pipelined_input_to_mail(imap, service):
    c = Client(imap.ports[service], tls=service == "imaps")
    # the login and two commands behind it in one write
    c.send(f"a LOGIN {ALICE} {PW}\r\nb NOOP\r\nc SELECT INBOX\r\n")
    ok = c._line()
    assert ok.startswith("a OK [CAPABILITY ") and ok.endswith("] Logged in"), ok
    post = caps(ok)
    for cap in ("IMAP4rev2", "IDLE", "NAMESPACE", "UIDPLUS"):
        assert cap in post, post
    assert "APPENDLIMIT=67108864" in post
    assert "AUTH=PLAIN" not in post and "STARTTLS" not in post
    assert c.until("b")[-1].startswith("b OK")
    assert c.until("c")[-1].startswith("c OK [READ-WRITE]")
    # pipelined octets reach the mail role once: no second "b" or "c" reply
    lines = c.cmd("d", "NOOP")
    assert lines[-1].startswith("d OK") and not [l for l in lines if l[:2] in ("b ", "c ")], lines
    assert c.cmd("e", "LOGOUT")[-1].startswith("e OK")
    c.close()


def test_login_with_literals_and_quoted(imap):
    c = Client(imap.ports["imap"])
    c.send(f"a LOGIN {{{len(ALICE)}}}\r\n")
    assert c._line() == "+ OK"
    c.send(f'{ALICE} "{PW}"\r\n')
    assert c._line().startswith("a OK [CAPABILITY ")
    assert c.cmd("b", "LOGOUT")[-1].startswith("b OK")
    c.close()


def test_failed_logins_are_delayed_and_identical(imap):
    c = Client(imap.ports["imap"])
    replies = []
    for tag, user, pw in (("a", ALICE, "wrong-pw-7x"), ("b", "nobody@example.test", "wrong-pw-7x"),
                          ("c", "nobody@nowhere.test", PW)):
        t0 = time.time()
        lines = c.cmd(tag, f'LOGIN "{user}" "{pw}"')
        assert time.time() - t0 >= 0.25, "failure not delayed"
        assert len(lines) == 1
        replies.append(lines[0][2:])
    assert replies == ["NO [AUTHENTICATIONFAILED] Authentication failed."] * 3
    # the same through AUTHENTICATE, and a good login after the failures
    lines = c.cmd("d", "AUTHENTICATE PLAIN " + b64(f"\0{ALICE}\0nope-pw-7y".encode()))
    assert lines == ["d NO [AUTHENTICATIONFAILED] Authentication failed."]
    assert c.cmd("e", f"LOGIN {ALICE} {PW}")[-1].startswith("e OK [CAPABILITY ")
    c.close()
    log = imap.read_log()
    assert "imap login failed user=nobody@example.test client=127.0.0.1" in log
    assert f"imap login user={ALICE} client=127.0.0.1" in log
    assert "wrong-pw-7x" not in log and "nope-pw-7y" not in log


def test_authenticate_plain_and_login(imap):
    ir = b64(f"\0{ALICE}\0{PW}".encode())
    # SASL-IR
    c = Client(imap.ports["imap"])
    assert c.cmd("a", f"AUTHENTICATE PLAIN {ir}")[-1].startswith("a OK [CAPABILITY ")
    c.close()
    # without SASL-IR: an empty challenge, then the response
    c = Client(imap.ports["imap"])
    c.send("a AUTHENTICATE PLAIN\r\n")
    assert c._line() == "+ "
    c.send(ir + "\r\n")
    assert c._line().startswith("a OK [CAPABILITY ")
    c.close()
    # LOGIN: user and password prompts
    c = Client(imap.ports["imaps"], tls=True)
    c.send("a AUTHENTICATE LOGIN\r\n")
    assert base64.b64decode(c._line()[2:]) == b"Username:"
    c.send(b64(ALICE.encode()) + "\r\n")
    assert base64.b64decode(c._line()[2:]) == b"Password:"
    c.send(b64(PW.encode()) + "\r\n")
    assert c._line().startswith("a OK [CAPABILITY ")
    assert c.cmd("b", "NOOP")[-1].startswith("b OK")
    c.close()
    # LOGIN with the user name as initial response
    c = Client(imap.ports["imap"])
    c.send(f"a AUTHENTICATE LOGIN {b64(ALICE.encode())}\r\n")
    assert base64.b64decode(c._line()[2:]) == b"Password:"
    c.send(b64(PW.encode()) + "\r\n")
    assert c._line().startswith("a OK [CAPABILITY ")
    c.close()


def test_imaplib_authenticate(imap):
    m = imaplib.IMAP4("127.0.0.1", imap.ports["imap"], timeout=10)
    typ, _ = m.authenticate("PLAIN", lambda _: f"\0{ALICE}\0{PW}".encode())
    assert typ == "OK"
    typ, data = m.list()
    assert typ == "OK" and any(b"INBOX" in l for l in data)
    m.logout()


def test_authenticate_cancel_and_errors(imap):
    c = Client(imap.ports["imap"])
    c.send("a AUTHENTICATE PLAIN\r\n")
    assert c._line() == "+ "
    c.send("*\r\n")
    assert c._line() == "a BAD Authentication cancelled"
    assert c.cmd("b", "AUTHENTICATE CRAM-MD5")[-1].startswith("b NO ")
    # PLAIN may not act as somebody else
    lines = c.cmd("d", "AUTHENTICATE PLAIN " + b64(f"bob@example.test\0{ALICE}\0{PW}".encode()))
    assert lines[-1].startswith("d NO [AUTHORIZATIONFAILED]")
    assert c.cmd("e", "NOOP") == ["e OK NOOP completed"]    # still usable
    assert c.cmd("f", "AUTHENTICATE PLAIN !!!notbase64")[-1] == "f BAD Invalid authentication data"
    c.close()


def test_commands_before_login_and_bad_limit(imap):
    c = Client(imap.ports["imap"])
    assert c.cmd("a", "SELECT INBOX") == ["a BAD Log in first"]
    assert c.cmd("b", "FROB") == ["b BAD Unknown command"]
    c.send("c NOOP \"unterminated\r\n")
    assert c._line().startswith("c BAD ")
    assert c._line() == "* BYE Too many invalid commands"
    assert c.closed()
    # an untagged BAD when there is no tag to answer
    c = Client(imap.ports["imap"])
    c.send("\r\n")
    assert c._line().startswith("* BAD ")
    assert c.cmd("n", "NOOP arg")[-1].startswith("n BAD")
    c.close()


def test_big_literal_refused_before_it_is_sent(imap):
    c = Client(imap.ports["imap"])
    c.send("a LOGIN {5000}\r\n")
    assert c._line().startswith("a BAD [TOOBIG]")      # no "+": the client sends nothing
    assert c.cmd("b", "NOOP") == ["b OK NOOP completed"]
    # a non-synchronizing one above the LITERAL- limit is skipped, in sync
    c.send("c LOGIN {5000+}\r\n" + "x" * 5000 + "\r\n")
    assert c._line().startswith("c BAD [TOOBIG]")
    assert c.cmd("d", "NOOP") == ["d OK NOOP completed"]
    c.close()


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(l for l in f if l.startswith("VmRSS:")).split()[1])


def test_client_that_does_not_read_costs_bounded_memory(imap):
    front = imap.roles()["front"][0]
    before = rss_kb(front)
    c = Client(imap.ports["imap"])
    # ~140 MB of replies if front kept reading commands; the kernel's socket
    # buffers on loopback can hold the 6 MB asked and some 35 MB of replies
    c.sock.settimeout(3)
    try:
        c.sock.sendall(b"a CAPABILITY\r\n" * 440000)
        time.sleep(2)
    except socket.timeout:
        pass                          # front stopped reading: as it should
    grown = rss_kb(front) - before
    assert grown < 16 * 1024, f"front grew by {grown} KiB"
    c.close()


def test_status_counts_prelogin(imap):
    c = Client(imap.ports["imap"])
    imap.wait_for(lambda: "imap_prelogin=1 " in imap.status(), what="imap_prelogin=1")
    c.close()
    imap.wait_for(lambda: "imap_prelogin=0 " in imap.status(), what="imap_prelogin=0")


def test_login_timeout(strict):
    c = Client(strict.ports["imap"])
    t0 = time.time()
    assert c._line() == "* BYE Disconnected for inactivity"
    assert 0.5 <= time.time() - t0 < 5
    assert c.closed()
    # a TLS handshake that never starts is dropped too
    s = socket.create_connection(("127.0.0.1", strict.ports["imaps"]), timeout=10)
    t0 = time.time()
    assert s.recv(100) == b""
    assert time.time() - t0 < 5
    s.close()


def test_asan_login_flow_and_shutdown_bye():
    y = make("asan", "auth_failure_delay = 300ms\n")
    try:
        c = Client(y.ports["imap"])
        assert c.cmd("a", f'LOGIN {ALICE} "bad"')[-1].startswith("a NO [AUTHENTICATIONFAILED]")
        c.send("b STARTTLS\r\nx NOOP\r\n")
        assert c._line() == "b OK Begin TLS negotiation now"
        c.starttls()
        c.send(f"c AUTHENTICATE PLAIN\r\n")
        assert c._line() == "+ "
        c.send(b64(f"\0{ALICE}\0{PW}".encode()) + "\r\nd NOOP\r\n")
        assert c._line().startswith("c OK [CAPABILITY ")
        assert c.until("d")[-1].startswith("d OK")
        c.close()
        # a client still before login hears why it is dropped
        w = Client(y.ports["imaps"], tls=True)
        assert w.cmd("n", "NOOP") == ["n OK NOOP completed"]
        y.stop()
        y.proc = None
        assert w._line() == "* BYE Server shutting down"
        assert w.closed()
    finally:
        y.stop()
        y.cleanup()
