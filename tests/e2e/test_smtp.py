"""Receiving mail: the SMTP server on the smtp listener, the durable queue
and local Maildir delivery, driven by real clients (swaks, curl, smtplib)
and raw sockets."""
import os
import smtplib
import subprocess

import pytest

from conftest import Youju, BINARIES
from smtpclient import Raw, open_tx

SMTP_EXTRA = """trusted_networks =
smtp_reject_unknown_sender_domain = no
smtp_error_delay = 0
"""


def make(binary="plain", extra=""):
    y = Youju(BINARIES[binary], SMTP_EXTRA + extra)
    y.start()
    y.setup_users()
    return y


@pytest.fixture(params=["plain", "asan"])
def mx(request):
    y = make(request.param)
    yield y
    y.stop()
    y.cleanup()


@pytest.fixture
def mx_plain():
    y = make()
    yield y
    y.stop()
    y.cleanup()


def swaks(y, *args, timeout=30):
    return subprocess.run(["swaks", "--server", f"127.0.0.1:{y.ports['smtp']}", "--timeout", "10",
                           "--helo", "client.example.org", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_swaks_delivers_to_maildir(mx):
    r = swaks(mx, "--from", "sender@example.org", "--to", "alice@example.test",
              "--header", "Subject: hello from swaks")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "250 2.0.0 Ok: queued as " in r.stdout
    (msg,) = mx.wait_messages("alice@example.test", 1)
    head = msg.split(b"\n\n", 1)[0]
    assert head.startswith(b"Return-Path: <sender@example.org>\nDelivered-To: alice@example.test\nReceived: from client.example.org (unknown [127.0.0.1])")
    assert b"by mx.example.test (youju) with ESMTP" in head
    assert b"Subject: hello from swaks" in head
    assert b"\r\n" not in msg   # Maildir files use LF
    # the queue is empty again and the tmp/ directory too
    mx.wait_for(lambda: "queued=0" in mx.status(), what="queue drained")
    assert os.listdir(os.path.join(mx.maildir("alice@example.test"), "tmp")) == []


def test_curl_and_smtplib(mx_plain):
    y = mx_plain
    msg = os.path.join(y.dir, "m.eml")
    with open(msg, "w") as f:
        f.write("From: a@example.org\nTo: bob@example.test\nSubject: via curl\n\n.leading dot\nbody\n")
    r = subprocess.run(["curl", "-sS", "--max-time", "10", "--crlf",
                        f"smtp://127.0.0.1:{y.ports['smtp']}/client.example.org",
                        "--mail-from", "a@example.org", "--mail-rcpt", "bob@example.test", "-T", msg],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with smtplib.SMTP("127.0.0.1", y.ports["smtp"], local_hostname="client.example.org", timeout=10) as s:
        s.starttls()
        s.ehlo("client.example.org")
        refused = s.sendmail("a@example.org", ["bob@example.test", "BOB+tag@example.test"],
                             b"Subject: via smtplib\r\n\r\nhello\r\n")
        assert refused == {}
    msgs = y.wait_messages("bob@example.test", 2)
    curl_msg = [m for m in msgs if b"via curl" in m][0]
    assert b"\n.leading dot\n" in curl_msg   # dot-stuffing undone exactly once
    tls_msg = [m for m in msgs if b"via smtplib" in m][0]
    # one delivery although two RCPTs reach the same mailbox; TLS in Received
    assert sum(b"via smtplib" in m for m in msgs) == 1
    assert b"with ESMTPS" in tls_msg and b"(using TLSv1.3 with cipher" in tls_msg


def test_ehlo_capabilities(mx_plain):
    c = Raw(mx_plain.ports["smtp"])
    banner = c.expect(220)
    assert banner[0] == "220 mx.example.test ESMTP youju"
    lines = c.expect(250, "EHLO client.example.org")
    caps = {l[4:].split()[0] for l in lines[1:]}
    assert {"PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING", "DSN",
            "STARTTLS"} <= caps
    assert "SIZE 26214400" in [l[4:] for l in lines]
    assert c.expect(252, "VRFY alice")[0].startswith("252 2.")
    c.expect(250, "NOOP")
    c.expect(214, "HELP")
    c.expect(221, "QUIT")


def test_rejections(mx_plain):
    y = mx_plain
    c = Raw(y.ports["smtp"])
    c.expect(220)
    # bad and non-FQDN HELO
    assert c.expect(501, "EHLO bad_name!")[0].startswith("501 5.5.4")
    assert c.expect(504, "EHLO localhost")[0].startswith("504 5.5.2")
    c.expect(503, "MAIL FROM:<a@example.org>")
    c.expect(250, "EHLO client.example.org")
    # non-FQDN sender
    assert "need fully-qualified" in c.expect(504, "MAIL FROM:<a@localhost>")[0]
    c.expect(250, "MAIL FROM:<a@example.org>")
    assert c.expect(550, "RCPT TO:<nobody@example.test>")[0].startswith("550 5.1.1")
    assert "Relay access denied" in c.expect(554, "RCPT TO:<victim@remote.example>")[0]
    for trick in ("victim%remote.example@example.test", "remote.example!victim@example.test",
                  "\"victim@remote.example\"@example.test"):
        code, lines = c.cmd(f"RCPT TO:<{trick}>")
        assert code >= 500, (trick, lines)
    code, lines = c.cmd("RCPT TO:<@example.test:victim@remote.example>")
    assert code == 554, lines
    # postmaster always exists (RFC 5321 4.5.1)
    c.expect(250, "RCPT TO:<postmaster@example.test>")
    c.expect(250, "RCPT TO:<Postmaster>")
    c.expect(250, "RSET")
    assert c.expect(552, "MAIL FROM:<a@example.org> SIZE=999999999999")[0].startswith("552 5.3.4")
    c.expect(221, "QUIT")
    assert not y.messages("victim@remote.example")


def test_too_many_recipients(mx_plain):
    y = mx_plain
    y.stop()
    y.proc = None
    y.extra += "smtp_max_recipients = 3\n"
    y.write_config()
    y.start()
    c = open_tx(y.ports["smtp"], sender=None)
    c.expect(250, "MAIL FROM:<a@example.org>")
    for i in range(3):
        c.expect(250, f"RCPT TO:<alice+{i}@example.test>")
    assert c.expect(452, "RCPT TO:<bob@example.test>")[0].startswith("452 4.5.3")
    c.expect(354, "DATA")
    c.send("Subject: three\r\n\r\nx\r\n.\r\n")
    c.expect(250)
    assert len(y.wait_messages("alice@example.test", 1)) == 1   # three RCPTs, one mailbox


def test_message_too_big_with_bad_ending(mx_plain):
    y = mx_plain
    y.stop()
    y.proc = None
    y.extra += "message_size_limit = 2k\n"
    y.write_config()
    y.start()
    c = open_tx(y.ports["smtp"])
    c.expect(354, "DATA")
    c.send("Subject: big\r\n\r\n" + "x" * 5000 + "\r\n")
    c.send("\n.\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
    c.send("smuggled\r\n.\r\n")
    code, lines = c.reply()
    assert code == 552 and lines[0].startswith("552 5.3.4"), lines
    c.expect(250, "NOOP")   # back in sync: nothing after the bad ending ran
    c.expect(221, "QUIT")
    assert y.messages("alice@example.test") == [] and y.messages("bob@example.test") == []


def test_directory_unavailable_is_451(mx_plain):
    y = mx_plain
    db = os.path.join(y.dir, "directory.db")
    os.rename(db, db + ".away")
    with open(db, "wb") as f:
        f.write(b"garbage" * 1000)
    os.chmod(db, 0o644)
    os.kill(y.roles()["auth"][0], 9)
    y.wait_for(y.all_running, what="auth back")
    c = open_tx(y.ports["smtp"], sender=None)
    c.expect(250, "MAIL FROM:<a@example.org>")
    assert c.expect(451, "RCPT TO:<alice@example.test>")[0].startswith("451 4.3.0")
    c.expect(221, "QUIT")
    os.replace(db + ".away", db)


def test_bdat_chunking(mx_plain):
    y = mx_plain
    c = open_tx(y.ports["smtp"], sender=None)
    body1 = b"Subject: chunked\r\n\r\nfirst part\r\n"
    body2 = b".not stuffed\r\nlast\r\n"
    c.send(b"MAIL FROM:<a@example.org> BODY=8BITMIME\r\nRCPT TO:<alice@example.test>\r\n"
           + b"BDAT %d\r\n" % len(body1) + body1 + b"BDAT %d LAST\r\n" % len(body2) + body2)
    c.expect(250)
    c.expect(250)
    assert "octets received" in c.expect(250)[0]
    assert "queued as" in c.expect(250)[0]
    (msg,) = y.wait_messages("alice@example.test", 1)
    assert msg.endswith(b"first part\n.not stuffed\nlast\n")
    # BDAT sizes that overflow or exceed the limit: refused without allocating
    for bad in ("BDAT 18446744073709551616", "BDAT -1", "BDAT 99999999999999999999"):
        c2 = open_tx(y.ports["smtp"])
        code, lines = c2.cmd(bad)
        assert code in (501, 552), (bad, lines)
        c2.close()
    c3 = open_tx(y.ports["smtp"])
    assert c3.expect(552, "BDAT 999999999")[0].startswith("552 5.3.4")
    assert c3.closed()


def test_limits_errors_and_timeouts(mx_plain):
    y = mx_plain
    y.stop()
    y.proc = None
    y.extra += "smtp_max_errors = 5\nsmtp_timeout = 1s\nmax_connections_per_ip = 3\n"
    y.write_config()
    y.start()
    c = Raw(y.ports["smtp"])
    c.expect(220)
    for _ in range(4):
        c.expect(500, "FROB")
    code, lines = c.cmd("FROB")
    assert code == 500 and lines
    assert c.expect(421)[0].startswith("421 4.7.0")
    assert c.closed()
    # a client that never speaks is dropped after smtp_timeout
    idle = Raw(y.ports["smtp"])
    idle.expect(220)
    assert idle.expect(421)[0].startswith("421 4.4.2")
    # per-IP connection limit
    held = [Raw(y.ports["smtp"]) for _ in range(3)]
    for h in held:
        h.expect(220)
    extra = Raw(y.ports["smtp"])
    assert extra.expect(421)[0].startswith("421 4.7.0")
    # a long line without CRLF and a bare LF in a command
    c = held[0]
    c.send("EHLO " + "a" * 10000 + "\r\n")
    assert c.reply()[0] == 500
    c.send("EHLO x.example\nMAIL FROM:<a@example.org>\r\n")
    code, lines = c.reply()
    assert code == 500 and "bare" in lines[0]
    for h in held:
        h.close()


def test_logs_have_session_and_queue_ids(mx_plain):
    y = mx_plain
    r = swaks(y, "--from", "s@example.org", "--to", "alice@example.test")
    assert r.returncode == 0
    qid = r.stdout.split("queued as ")[1].split()[0]
    y.wait_messages("alice@example.test", 1)
    log = y.read_log()
    assert f"id={qid} committed" in log
    assert f"id={qid} to=<alice@example.test> delivered" in log
    assert "front[" in log and "session=" in log


def test_alias_fanout_and_remote_kept_queued(mx_plain):
    y = mx_plain
    assert y.cli("alias", "add", "team@example.test", "alice@example.test").returncode == 0
    assert y.cli("alias", "add", "team@example.test", "bob@example.test").returncode == 0
    assert y.cli("alias", "add", "team@example.test", "friend@remote.example").returncode == 0
    assert y.cli("alias", "add", "@example.test", "bob@example.test").returncode == 0
    r = swaks(y, "--from", "s@example.org", "--to", "team@example.test,anything@example.test")
    assert r.returncode == 0, r.stdout
    y.wait_messages("alice@example.test", 1)
    y.wait_messages("bob@example.test", 1)
    # the remote destination waits in the queue for outbound delivery
    y.wait_for(lambda: "remote_waiting=1" in y.status() and "queued=1" in y.status(), what="remote kept")
    assert len(y.messages("bob@example.test")) == 1   # catch-all + alias: one delivery
    # and survives a restart of the whole daemon
    y.stop()
    y.proc = None
    y.start()
    y.wait_for(lambda: "remote_waiting=1" in y.status(), what="remote still queued after restart")
