"""SMTP smuggling, STARTTLS injection, disk faults and crashes
(reliability-anchors.md sections 2.1, 2.2, 2.10)."""
import os
import random
import signal
import socket
import subprocess
import threading
import time

import pytest

from smtpclient import Raw, open_tx
from test_smtp import make

# Every non-standard end of data known from SMTP smuggling research:
# smtpsmug's list, the SEC Consult scanner's, and the CR CR LF variants.
ENDINGS = [b"\n.\n", b"\n.\r\n", b"\r.\r", b"\r.\n", b"\n.\r", b"\r\n.\r", b"\r\n.\n",
           b"\r.\r\n", b"\r\n.\r\r\n", b"\r\r\n.\r\r\n", b"\r\n\x00.\r\n", b"\n..\n"]


@pytest.fixture
def mx():
    y = make()
    yield y
    y.stop()
    y.cleanup()


@pytest.mark.parametrize("mode", ["reject", "normalize"])
def test_smuggling_never_two_messages(mode):
    y = make(extra=f"smtp_bare_newline = {mode}\n")
    try:
        for i, ending in enumerate(ENDINGS):
            c = open_tx(y.ports["smtp"])
            c.expect(354, "DATA")
            c.send(b"Subject: case %d\r\n\r\nbody" % i + ending +
                   b"MAIL FROM:<evil@example.org>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
                   b"Subject: smuggled\r\n\r\nsmuggled\r\n.\r\n")
            code, lines = c.reply()
            # one reply for the whole thing, at the real end
            assert code in (250, 550), (ending, lines)
            c.expect(250, "NOOP")
            c.expect(221, "QUIT")
        time.sleep(1)
        assert y.messages("bob@example.test") == [], "a smuggled message was delivered"
        for m in y.messages("alice@example.test"):
            assert b"smuggled" in m   # the smuggled part stayed inside the body
    finally:
        y.stop()
        y.cleanup()


def test_pipelined_content_before_354_is_refused(mx):
    c = open_tx(mx.ports["smtp"], sender=None)
    c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nSubject: x\r\n\r\nx\r\n.\r\n")
    c.expect(250)
    c.expect(250)
    assert c.expect(554)[0].startswith("554 5.5.0")
    assert c.closed()
    assert mx.messages("alice@example.test") == []


def test_starttls_injection(mx):
    c = open_tx(mx.ports["smtp"], sender=None)
    c.send("STARTTLS\r\nEHLO inject.example\r\n")
    c.expect(220)
    assert c.buf == b""
    c.starttls()
    # nothing may arrive before we speak: the injected EHLO was discarded
    c.sock.settimeout(1.5)
    try:
        data = c.sock.recv(100)
    except socket.timeout:
        data = b""
    assert data == b"", data
    c.sock.settimeout(10)
    # the session starts over: MAIL needs a new EHLO
    c.expect(503, "MAIL FROM:<a@example.org>")
    lines = c.expect(250, "EHLO client.example.org")
    assert not any("STARTTLS" in l for l in lines)
    c.expect(503, "STARTTLS")
    c.expect(221, "QUIT")


def test_disk_full_and_fsync_error_give_4xx():
    """fiu-run injects ENOSPC into write() and EIO into fsync() of the queue
    role. The daemon runs unprivileged (dev mode) here: libfiu's control
    thread does not survive a role's switch of user, and dev mode runs the
    same code paths without one."""
    import pwd
    y = make()
    try:
        y.stop()
        y.proc = None
        user = "youju"
        pw = pwd.getpwnam(user)
        for root, dirs, files in os.walk(y.dir):
            for n in dirs + files:
                os.lchown(os.path.join(root, n), pw.pw_uid, pw.pw_gid)
        os.chown(y.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(y.key, 0o644)   # a throwaway test key
        y.proc = subprocess.Popen(["runuser", "-u", user, "--", "fiu-run", "-x", y.binary, "-c", y.conf,
                                   "serve"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        y.wait_for(y.all_running, what="roles under fiu")
        qpid = y.roles()["queue"][0]
        for point, info in (("posix/io/rw/write", 28), ("posix/io/sync/fsync", 5)):
            subprocess.run(["fiu-ctrl", "-c", f"enable name={point},failinfo={info}", str(qpid)],
                           check=True, timeout=10)
            c = open_tx(y.ports["smtp"])
            c.expect(354, "DATA")
            c.send("Subject: disk\r\n\r\n" + ("y" * 998 + "\r\n") * 200 + ".\r\n")
            code, lines = c.reply()
            assert 400 <= code < 500, (point, lines)
            c.expect(221, "QUIT")
            subprocess.run(["fiu-ctrl", "-c", f"disable name={point}", str(qpid)], check=True, timeout=10)
        spool = os.path.join(y.dir, "spool")
        assert os.listdir(os.path.join(spool, "queue")) == []
        assert os.listdir(os.path.join(spool, "incoming")) == []
        assert y.messages("alice@example.test") == []
        # and the server keeps working
        c = open_tx(y.ports["smtp"])
        c.expect(354, "DATA")
        c.send("Subject: fine\r\n\r\nok\r\n.\r\n")
        c.expect(250)
        y.wait_messages("alice@example.test", 1)
    finally:
        os.chmod(y.key, 0o600)
        y.stop()
        y.cleanup()


def test_low_disk_space_at_mail(mx):
    mx.stop()
    mx.proc = None
    mx.extra += "queue_min_free = 1000000G\n"
    mx.write_config()
    mx.start()
    c = open_tx(mx.ports["smtp"], sender=None)
    assert c.expect(452, "MAIL FROM:<a@example.org>")[0].startswith("452 4.3.1")


def test_crash_during_load_loses_nothing():
    """SIGKILL roles at random moments while clients send a few hundred
    messages: every 250 ends up in a Maildir exactly once (or still queued),
    and no transaction that was cut before its final dot is delivered."""
    y = make()
    try:
        acked, unfinished, lock = [], [], threading.Lock()
        stop = time.time() + 12

        def client(n):
            i = 0
            while time.time() < stop:
                i += 1
                tag = f"m{n}-{i}"
                try:
                    c = open_tx(y.ports["smtp"], timeout=5)
                    c.expect(354, "DATA")
                    cut = random.random() < 0.15
                    c.send(f"Subject: {tag}\r\nX-Tag: {tag}\r\n\r\n" + "z" * random.randint(10, 20000) + "\r\n")
                    if cut:
                        with lock:
                            unfinished.append(tag)
                        c.close()
                        continue
                    c.send(".\r\n")
                    code, _ = c.reply()
                    if code == 250:
                        with lock:
                            acked.append(tag)
                    c.close()
                except (OSError, EOFError, AssertionError):
                    pass

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        while time.time() < stop - 2:
            time.sleep(random.uniform(0.3, 1.0))
            role = random.choice(["front", "queue", "mail"])
            pid = y.roles().get(role, (0,))[0]
            if pid:
                os.kill(pid, signal.SIGKILL)
        for t in threads:
            t.join()
        assert len(acked) > 50, len(acked)
        y.wait_for(y.all_running, what="roles back")
        y.wait_for(lambda: "queued=0" in y.status(), timeout=60, what="queue drained")
        seen = {}
        for m in y.messages("alice@example.test"):
            tag = m.split(b"X-Tag: ", 1)[1].split(b"\n", 1)[0].decode()
            seen[tag] = seen.get(tag, 0) + 1
        for tag in acked:
            assert seen.get(tag) == 1, (tag, seen.get(tag))
        for tag in unfinished:
            assert tag not in seen, tag
    finally:
        y.stop()
        y.cleanup()
