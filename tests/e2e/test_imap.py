"""IMAP after login (the mail role) with python imaplib and raw sockets:
SELECT/EXAMINE, STORE, COPY/MOVE with UIDPLUS, EXPUNGE, APPEND, IDLE woken
by an SMTP delivery, two sessions of one user, CONDSTORE/QRESYNC,
COMPRESS=DEFLATE, persistence of UIDs and flags, and abuse cases."""
import glob
import imaplib
import os
import re
import socket
import ssl
import time
import zlib

import pytest

from test_smtp import make, swaks

USER, PW = "alice@example.test", "pw-alice"


def deliver(y, n, to=USER, start=0):
    for i in range(start, start + n):
        r = swaks(y, "--from", "s@example.org", "--to", to,
                  "--header", f"Subject: message {i}", "--body", f"body {i}\n")
        assert r.returncode == 0, r.stdout


def login(y, user=USER, pw=PW):
    m = imaplib.IMAP4("127.0.0.1", y.ports["imap"], timeout=15)
    typ, _ = m.login(user, pw)
    assert typ == "OK"
    return m


class Raw:
    """A line-oriented IMAP client for what imaplib cannot express."""

    def __init__(self, y, port=None, login=True):
        self.s = socket.create_connection(("127.0.0.1", port or y.ports["imap"]), timeout=15)
        self.buf = b""
        self.n = 0
        assert self.line().startswith(b"* OK")
        if login:
            self.cmd(f'LOGIN "{USER}" "{PW}"')

    def send(self, data):
        self.s.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError(self.buf)
            self.buf += d
        l, _, self.buf = self.buf.partition(b"\r\n")
        return l

    def until(self, tag):
        """Lines up to and including the tagged reply."""
        out = []
        while True:
            l = self.line()
            out.append(l)
            if l.startswith(tag.encode() + b" "):
                return out

    def cmd(self, text, ok=True):
        self.n += 1
        tag = f"t{self.n}"
        self.send(f"{tag} {text}\r\n".encode())
        lines = self.until(tag)
        if ok:
            assert lines[-1].startswith(f"{tag} OK".encode()), lines
        return lines

    def close(self):
        self.s.close()


@pytest.fixture(scope="module")
def srv():
    y = make("plain", "imap_write_timeout = 3s\n")
    yield y
    y.stop()
    y.cleanup()


@pytest.fixture(params=["plain", "asan"])
def fresh(request):
    y = make(request.param)
    yield y
    y.stop()
    y.cleanup()


def test_select_store_expunge_append(fresh):
    y = fresh
    deliver(y, 3)
    y.wait_messages(USER, 3)
    m = login(y)
    typ, data = m.select("INBOX")
    assert typ == "OK" and data == [b"3"]
    uv = int(m.untagged_responses["UIDVALIDITY"][0])
    assert m.untagged_responses["UIDNEXT"] == [b"4"]
    assert b"READ-WRITE" in str(m.untagged_responses).encode() or "READ-WRITE" in m.untagged_responses
    typ, data = m.store("2", "+FLAGS", "(\\Deleted $Forwarded custom1)")
    assert typ == "OK"
    assert b"\\Deleted" in data[0] and b"custom1" in data[0] and b"$Forwarded" in data[0]
    typ, data = m.expunge()
    assert typ == "OK" and data == [b"2"]
    # the Maildir really lost it, and keeps flags in the file names
    typ, data = m.store("1", "+FLAGS", "(\\Seen \\Flagged)")
    files = glob.glob(os.path.join(y.maildir(USER), "cur", "*"))
    assert len(files) == 2 and any(f.endswith(":2,FS") for f in files), files
    date = imaplib.Time2Internaldate(time.mktime((2024, 2, 1, 12, 0, 0, 0, 0, -1)))
    typ, data = m.append("INBOX", "(\\Seen \\Draft)", date, b"Subject: appended\r\n\r\nhello\r\n")
    assert typ == "OK"
    code = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[0])
    assert int(code.group(1)) == uv and int(code.group(2)) == 4
    typ, data = m.noop()
    assert m.untagged_responses.get("EXISTS", [b""])[-1] == b"3"
    # internal date is the file's mtime
    assert any(time.gmtime(os.path.getmtime(f))[:3] == (2024, 2, 1)
               for f in glob.glob(os.path.join(y.maildir(USER), "*", "*")))
    typ, data = m.select("INBOX", readonly=True)
    assert typ == "OK" and "READ-ONLY" in m.untagged_responses
    typ, data = m.store("1", "+FLAGS", "(\\Deleted)")
    assert typ == "NO"
    m.logout()


def test_copy_move_uidplus(srv):
    y = srv
    deliver(y, 3, to="bob@example.test")
    y.wait_messages("bob@example.test", 3)
    r = Raw(y, login=False)
    r.cmd('LOGIN "bob@example.test" "pw-bob"')
    r.cmd("SELECT INBOX")
    out = r.cmd("UID COPY 1:2 Trash")
    assert re.search(rb"\[COPYUID \d+ 1:2 1:2\]", out[-1]), out
    out = r.cmd("COPY 1 Nonexistent", ok=False)
    assert b"NO [TRYCREATE]" in out[-1]
    out = r.cmd("UID MOVE 3 Archive")
    assert any(re.match(rb"\* OK \[COPYUID \d+ 3 1\]", l) for l in out), out
    assert b"* 3 EXPUNGE" in out
    out = r.cmd("STATUS Trash (MESSAGES)", ok=False)
    r.cmd("SELECT Archive")
    out = r.cmd("UID FETCH 1:* (UID)", ok=False)
    r.cmd("LOGOUT")
    r.close()


def test_idle_wakes_on_smtp_delivery(srv):
    y = srv
    r = Raw(y)
    out = r.cmd("SELECT INBOX")
    exists = [int(l.split()[1]) for l in out if l.endswith(b" EXISTS")][0]
    r.send(b"i1 IDLE\r\n")
    assert r.line().startswith(b"+ ")
    t0 = time.monotonic()
    deliver(y, 1, start=100)
    l = r.line()
    latency = time.monotonic() - t0
    assert l == f"* {exists + 1} EXISTS".encode(), l
    # swaks returns after the 250; the wake-up follows the delivery at once
    assert latency < 3, latency
    r.send(b"DONE\r\n")
    out = r.until("i1")
    assert out[-1].startswith(b"i1 OK")
    r.close()


def test_two_sessions_see_each_other(srv):
    y = srv
    deliver(y, 2, start=200)
    a, b = Raw(y), Raw(y)
    a.cmd("SELECT INBOX")
    out = b.cmd("SELECT INBOX")
    n = [int(l.split()[1]) for l in out if l.endswith(b" EXISTS")][0]
    a.cmd(f"STORE {n} +FLAGS.SILENT (\\Flagged)")
    out = b.cmd("NOOP")
    assert any(re.match(rf"\* {n} FETCH \(FLAGS \(.*\\Flagged.*\)\)".encode(), l) for l in out), out
    a.cmd(f"STORE {n} +FLAGS.SILENT (\\Deleted)")
    a.cmd("EXPUNGE")
    out = b.cmd("NOOP")
    assert f"* {n} EXPUNGE".encode() in out, out
    # b in IDLE gets a's expunge right away
    a.cmd(f"STORE {n - 1} +FLAGS.SILENT (\\Deleted)")
    b.send(b"i IDLE\r\n")
    assert b.line().startswith(b"+ ")
    a.cmd("EXPUNGE")
    # the flag change first (sent when IDLE began), then the expunge
    seen = [b.line(), b.line()]
    assert seen[-1] == f"* {n - 1} EXPUNGE".encode(), seen
    b.send(b"DONE\r\n")
    b.until("i")
    a.close()
    b.close()


def test_condstore_qresync(srv):
    y = srv
    deliver(y, 3, start=300)
    r = Raw(y)
    out = r.cmd("SELECT INBOX (CONDSTORE)")
    hms = int([re.search(rb"HIGHESTMODSEQ (\d+)", l).group(1) for l in out if b"HIGHESTMODSEQ" in l][0])
    uv = int([re.search(rb"UIDVALIDITY (\d+)", l).group(1) for l in out if b"UIDVALIDITY" in l][0])
    out = r.cmd("STORE 1 (UNCHANGEDSINCE 1) +FLAGS (\\Seen)")
    assert b"[MODIFIED 1]" in out[-1], out
    out = r.cmd(f"STORE 1 (UNCHANGEDSINCE {hms + 1000}) +FLAGS (\\Answered)")
    assert any(b"MODSEQ (" in l for l in out), out
    r.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)")
    uid2 = None
    r.cmd("EXPUNGE")
    r.cmd("LOGOUT", ok=False)
    r.close()
    q = Raw(y)
    q.cmd("ENABLE QRESYNC")
    out = q.cmd(f"SELECT INBOX (QRESYNC ({uv} {hms}))")
    assert any(l.startswith(b"* VANISHED (EARLIER) ") for l in out), out
    assert any(re.match(rb"\* 1 FETCH \(UID \d+ FLAGS \(.*\\Answered.*\) MODSEQ \(\d+\)\)", l) for l in out), out
    q.close()


def test_compress_deflate(srv):
    y = srv
    r = Raw(y)
    r.cmd("COMPRESS DEFLATE")
    out_z = zlib.compressobj(6, zlib.DEFLATED, -15)
    in_z = zlib.decompressobj(-15)
    r.send(out_z.compress(b"c1 SELECT INBOX\r\nc2 NOOP\r\n") + out_z.flush(zlib.Z_SYNC_FLUSH))
    data = b""
    deadline = time.monotonic() + 10
    while b"c2 OK" not in data and time.monotonic() < deadline:
        chunk = r.s.recv(65536)
        assert chunk
        data += in_z.decompress(chunk)
    assert b"c1 OK [READ-WRITE]" in data and b"c2 OK" in data, data
    r.send(out_z.compress(b"c3 COMPRESS DEFLATE\r\n") + out_z.flush(zlib.Z_SYNC_FLUSH))
    data = b""
    while b"c3 " not in data:
        data += in_z.decompress(r.s.recv(65536))
    assert b"c3 NO [COMPRESSIONACTIVE]" in data
    r.close()


def test_persistence_restart_and_lost_index(fresh):
    y = fresh
    deliver(y, 4, start=400)
    y.wait_messages(USER, 4)
    r = Raw(y)
    r.cmd("SELECT INBOX")
    r.cmd("STORE 2 +FLAGS (\\Seen $label1)")
    r.cmd("STORE 3 +FLAGS (\\Flagged)")

    def state():
        out = r.cmd("UID SEARCH ALL", ok=False)
        lines = r.cmd("STATUS INBOX (UIDVALIDITY UIDNEXT)", ok=False)
        flags = r.cmd("UID STORE 1:* +FLAGS (\\Draft)")
        r.cmd("STORE 1:4 -FLAGS.SILENT (\\Draft)")
        # \Recent belongs to the session that saw the message first
        return sorted(l.replace(b" \\Recent", b"") for l in flags if b"FETCH" in l)

    before = state()
    r.close()
    y.stop()
    y.start()
    r = Raw(y)
    out = r.cmd("SELECT INBOX")
    assert state() == before
    r.close()
    # a lost index is rebuilt from the Maildir: UIDs and flags stay
    y.stop()
    for f in glob.glob(os.path.join(y.maildir(USER), "youju.*")):
        os.unlink(f)
    y.start()
    r = Raw(y)
    r.cmd("SELECT INBOX")
    after = state()
    # keywords live in the index only (and Dovecot's keyword letters);
    # system flags come back from the file names
    strip = lambda ls: [re.sub(rb" \$label1", b"", l) for l in ls]
    assert strip(after) == strip(before)
    r.close()


def test_abuse(srv):
    y = srv
    r = Raw(y)
    assert r.cmd("FETCH 1 FLAGS", ok=False)[-1].startswith(b"t2 BAD")    # no mailbox selected
    r.cmd("SELECT INBOX")
    assert r.cmd("FETCH 1:999999 (FLAGS", ok=False)[-1].split()[1] == b"BAD"
    assert r.cmd("STORE 0 +FLAGS (\\Seen)", ok=False)[-1].split()[1] == b"BAD"
    assert r.cmd("STORE 99999 +FLAGS (\\Seen)", ok=False)[-1].split()[1] == b"BAD"
    assert r.cmd("STORE 1 +FLAGS (\\Recent)", ok=False)[-1].split()[1] == b"BAD"
    assert r.cmd("SELECT &Jjo", ok=False)[-1].split()[1] == b"BAD"          # bad modified UTF-7
    assert r.cmd("COPY 1 " + "(" * 200 + ")" * 200, ok=False)[-1].split()[1] == b"BAD"
    assert r.cmd("FOO", ok=False)[-1].split()[1] == b"BAD"
    # a literal over APPENDLIMIT is refused before it is sent
    r.n += 1
    r.send(f"t{r.n} APPEND INBOX {{99999999999}}\r\n".encode())
    l = r.line()
    assert l.startswith(f"t{r.n} NO [TOOBIG]".encode()) or l.startswith(f"t{r.n} BAD".encode()), l
    r.n += 1
    r.send(f"t{r.n} APPEND INBOX {{-1}}\r\n".encode())
    assert r.line().startswith(f"t{r.n} BAD".encode())
    r.cmd("NOOP")
    r.close()


def test_client_that_never_reads(srv):
    y = srv
    r = Raw(y)
    r.cmd("SELECT INBOX")
    r.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    # pipeline far more commands than the server will buffer answers for
    blob = b"".join(b"x%d CAPABILITY\r\n" % i for i in range(40000))
    r.s.settimeout(30)
    try:
        r.s.sendall(blob)
    except OSError:
        pass
    # meanwhile other clients are served
    other = login(y, "bob@example.test", "pw-bob")
    assert other.noop()[0] == "OK"
    other.logout()
    # and after imap_write_timeout (3s) the reader-less client is gone
    deadline = time.monotonic() + 20
    closed = False
    r.s.setblocking(False)
    while time.monotonic() < deadline and not closed:
        time.sleep(0.5)
        st = y.status()
        closed = "imap_sessions=0" in st
    assert closed, st
    r.close()


def test_quota_enforced_at_append_and_delivery(srv):
    y = srv
    r = y.cli("user", "add", "carol@example.test", "--quota", "2k", "--password-stdin", input="pw-carol\n")
    assert r.returncode == 0, r.stderr
    m = imaplib.IMAP4("127.0.0.1", y.ports["imap"], timeout=15)
    m.login("carol@example.test", "pw-carol")
    typ, data = m.append("INBOX", None, None, b"Subject: small\r\n\r\n" + b"x" * 500 + b"\r\n")
    assert typ == "OK", data
    typ, data = m.append("INBOX", None, None, b"Subject: big\r\n\r\n" + b"x" * 3000 + b"\r\n")
    assert typ == "NO" and b"[OVERQUOTA]" in data[0], data
    # delivery over quota bounces (5.2.2) instead of filling the disk
    r = swaks(y, "--from", "s@example.org", "--to", "carol@example.test",
              "--body", "y" * 3000)
    assert r.returncode == 0, r.stdout
    y.wait_for(lambda: "mailbox is over quota" in y.read_log(), what="over-quota delivery")
    typ, data = m.select("INBOX")
    assert data == [b"1"]
    m.logout()


def test_anchors_literals_nesting_paths(srv):
    """reliability anchors IMAP-2, IMAP-3, IMAP-4, IMAP-5, IMAP-8 after login"""
    y = srv
    r = Raw(y)
    for bogus in ("{4294967296}", "{99999999999999999999}", "{-1}", "{}"):
        r.n += 1
        r.send(f"t{r.n} APPEND INBOX {bogus}\r\n".encode())
        l = r.line()
        assert l.startswith(f"t{r.n} BAD".encode()) or l.startswith(f"t{r.n} NO [TOOBIG]".encode()), (bogus, l)
    r.cmd("NOOP")
    # {00000000001} is a valid literal of one octet
    r.n += 1
    r.send(f"t{r.n} SELECT {{00000000005}}\r\n".encode())
    assert r.line().startswith(b"+ ")
    r.send(b"INBOX\r\n")
    assert r.until(f"t{r.n}")[-1].startswith(f"t{r.n} OK".encode())
    # a {n+} literal over the limit: BAD [TOOBIG] and its octets are never
    # read as commands (IMAP-3)
    y2 = r
    r.n += 1
    big = 70 * 1024 * 1024
    r.send(f"t{r.n} APPEND INBOX {{{big}+}}\r\n".encode())
    l = r.line()
    assert l.startswith(f"t{r.n} BAD".encode()) or l.startswith(f"t{r.n} NO".encode()), l
    r.close()
    r = Raw(y)
    r.cmd("SELECT INBOX")
    out = r.cmd("SEARCH " + "(" * 100000, ok=False)
    assert out[-1].split()[1] == b"BAD"
    r.n += 1
    r.send(f't{r.n} SELECT "IN\x00BOX"\r\n'.encode())
    assert r.until(f"t{r.n}")[-1].split()[1] == b"BAD"
    for evil in ('"../bob/INBOX"', '"../../example.test/bob"', '"/etc"', '".."', '"INBOX/../../bob"'):
        out = r.cmd(f"SELECT {evil}", ok=False)
        assert out[-1].split()[1] in (b"NO", b"BAD"), (evil, out)
    r.cmd("NOOP")
    r.close()


def test_concurrent_sessions_recent_once(srv):
    """reliability anchor IMAP-10: every new message is \\Recent in exactly
    one session; flag updates from all sessions survive"""
    y = srv
    r = y.cli("user", "add", "dave@example.test", "--password-stdin", input="pw-dave\n")
    assert r.returncode == 0, r.stderr
    sessions = []
    for i in range(10):
        s = Raw(y, login=False)
        s.cmd('LOGIN "dave@example.test" "pw-dave"')
        s.cmd("SELECT INBOX")
        sessions.append(s)
    # appends from every session, interleaved with STOREs
    for round_ in range(3):
        for i, s in enumerate(sessions):
            s.n += 1
            msg = f"Subject: r{round_} s{i}\r\n\r\nbody\r\n".encode()
            s.send(f"t{s.n} APPEND INBOX {{{len(msg)}+}}\r\n".encode() + msg + b"\r\n")
        for s in sessions:
            s.until(f"t{s.n}")
    for s in sessions:
        s.cmd("NOOP")   # every view learns of every append
    recent_total = 0
    for i, s in enumerate(sessions):
        out = s.cmd(f"STORE 1:* +FLAGS.SILENT ($s{i})")
        out = s.cmd("STORE 1:* +FLAGS ()")
        recent_total += sum(1 for l in out if b"\\Recent" in l)
    assert recent_total == 30
    out = sessions[0].cmd("STORE 1:* +FLAGS ()")
    for l in (l for l in out if b"FETCH" in l):
        assert all(f"$s{i}".encode() in l for i in range(10)), l
    for s in sessions:
        s.close()


def test_idle_timeout_bye():
    y = make("plain", "imap_idle_timeout = 2s\n")
    try:
        r = Raw(y)
        t0 = time.monotonic()
        l = r.line()
        assert l.startswith(b"* BYE"), l
        assert 1.5 < time.monotonic() - t0 < 10
        r.close()
    finally:
        y.stop()
        y.cleanup()


def test_pop3_deletions_are_imap_expunges(srv):
    import poplib
    y = srv
    r = y.cli("user", "add", "erin@example.test", "--password-stdin", input="pw-erin\n")
    assert r.returncode == 0, r.stderr
    deliver(y, 2, to="erin@example.test", start=500)
    y.wait_messages("erin@example.test", 2)
    s = Raw(y, login=False)
    s.cmd('LOGIN "erin@example.test" "pw-erin"')
    s.cmd("SELECT INBOX")
    s.send(b"i IDLE\r\n")
    assert s.line().startswith(b"+ ")
    p = poplib.POP3("127.0.0.1", y.ports["pop3"], timeout=10)
    p.user("erin@example.test")
    p.pass_("pw-erin")
    p.dele(1)
    p.quit()
    assert s.line() == b"* 1 EXPUNGE"
    s.send(b"DONE\r\n")
    s.until("i")
    s.close()


def test_messages_from_outside_are_picked_up(srv):
    """another MDA (or a copy) writes into the Maildir: the session sees it"""
    y = srv
    r = y.cli("user", "add", "frank@example.test", "--password-stdin", input="pw-frank\n")
    assert r.returncode == 0, r.stderr
    s = Raw(y, login=False)
    s.cmd('LOGIN "frank@example.test" "pw-frank"')
    s.cmd("SELECT INBOX")
    root = y.maildir("frank@example.test")
    name = f"{int(time.time())}.M1P1.outside:2,S"
    with open(os.path.join(root, "tmp", name), "wb") as f:
        f.write(b"Subject: from outside\n\nhello\n")
    os.rename(os.path.join(root, "tmp", name), os.path.join(root, "cur", name))
    uid = os.stat(root).st_uid
    os.chown(os.path.join(root, "cur", name), uid, os.stat(root).st_gid)
    deadline = time.monotonic() + 10
    while True:
        out = s.cmd("NOOP")
        if b"* 1 EXISTS" in out:
            break
        assert time.monotonic() < deadline, out
        time.sleep(0.3)
    out = s.cmd("FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert any(b"\\Seen" in l for l in out) and any(b"from outside" in l for l in out), out
    s.close()


def test_nul_in_message_body(srv):
    """RFC 3516: a message with NUL arrives through a literal8 APPEND; BODY[]
    (a plain literal, RFC 9051 CHAR8) carries 0x80 in its place, BINARY[]
    the real octet as ~{n}"""
    y = srv
    r = Raw(y)
    msg = b"Subject: nul\r\n\r\nbefore\x00after\r\n"
    r.n += 1
    r.send(f"t{r.n} APPEND INBOX ~{{{len(msg)}+}}\r\n".encode() + msg + b"\r\n")
    out = r.until(f"t{r.n}")
    assert b"APPENDUID" in out[-1], out
    uid = int(re.search(rb"APPENDUID \d+ (\d+)", out[-1]).group(1))
    r.cmd("SELECT INBOX")
    r.n += 1
    r.send(f"t{r.n} UID FETCH {uid} (BODY.PEEK[] BINARY.PEEK[])\r\n".encode())
    data = b""
    while f"t{r.n} OK".encode() not in data:
        data += r.s.recv(65536)
    body = re.search(rb"BODY\[\] \{(\d+)\}\r\n", data)
    n = int(body.group(1))
    got = data[body.end():body.end() + n]
    assert n == len(msg) and got == msg.replace(b"\x00", b"\x80"), got
    binary = re.search(rb"BINARY\[\] ~\{(\d+)\}\r\n", data)
    assert binary and data[binary.end():binary.end() + int(binary.group(1))] == msg
    r.close()


def test_purged_user_added_again(srv):
    """the mail role keeps recent users in memory: a user deleted with
    --purge and added again starts empty, with a fresh quota count"""
    y = srv
    addr = "gina@example.test"
    assert y.cli("user", "add", addr, "--quota", "3k", "--password-stdin", input="pw-gina\n").returncode == 0
    deliver(y, 2, to=addr, start=600)
    y.wait_messages(addr, 2)
    m = imaplib.IMAP4("127.0.0.1", y.ports["imap"], timeout=15)
    m.login(addr, "pw-gina")
    assert m.select("INBOX")[1] == [b"2"]
    m.logout()
    r = y.cli("user", "del", addr, "--purge")
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(y.maildir(addr))
    assert y.cli("user", "add", addr, "--quota", "3k", "--password-stdin", input="pw-gina\n").returncode == 0
    y.cli("reload")     # forget the cached directory answers
    deliver(y, 1, to=addr, start=700)
    y.wait_messages(addr, 1)
    m = imaplib.IMAP4("127.0.0.1", y.ports["imap"], timeout=15)
    m.login(addr, "pw-gina")
    assert m.select("INBOX")[1] == [b"1"]
    typ, data = m.getquotaroot("INBOX")
    usage = int(re.search(rb"STORAGE (\d+) ", data[1][0]).group(1))
    assert usage <= 1, data     # KiB: only the new message counts
    m.logout()
