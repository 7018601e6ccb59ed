"""POP3 on 110 (STLS) and 995 (TLS) with real clients: python poplib,
curl, fetchmail; semantics shared with the store (UIDL stability, deletion
only at QUIT, [IN-USE])."""
import os
import poplib
import socket
import ssl
import subprocess
import time

import pytest

from smtpclient import Raw
from test_smtp import make, swaks

NOVERIFY = ssl._create_unverified_context()


@pytest.fixture(params=["plain", "asan"])
def pop(request):
    y = make(request.param)
    for i in range(3):
        r = swaks(y, "--from", "s@example.org", "--to", "alice@example.test",
                  "--header", f"Subject: pop {i}", "--body", f".starts with a dot\nmessage {i}\n")
        assert r.returncode == 0, r.stdout
    y.wait_messages("alice@example.test", 3)
    yield y
    y.stop()
    y.cleanup()


def login(y, tls=False):
    if tls:
        p = poplib.POP3_SSL("127.0.0.1", y.ports["pop3s"], context=NOVERIFY, timeout=10)
    else:
        p = poplib.POP3("127.0.0.1", y.ports["pop3"], timeout=10)
    p.user("alice@example.test")
    assert p.pass_("pw-alice").startswith(b"+OK")
    return p


def test_poplib_every_command(pop):
    p = login(pop)
    count, total = p.stat()
    assert count == 3
    resp, listing, _ = p.list()
    sizes = [int(l.split()[1]) for l in listing]
    assert sum(sizes) == total
    resp, uidls, _ = p.uidl()
    assert len({u.split()[1] for u in uidls}) == 3
    for n in (1, 2, 3):
        resp, lines, octets = p.retr(n)
        assert resp.startswith(b"+OK")
        # the advertised size is exactly the CRLF octets of the message
        assert octets - sum(2 for _ in lines) + len(lines) * 2 >= 0
        raw = b"\r\n".join(lines) + b"\r\n"
        assert len(raw) == sizes[n - 1], (len(raw), sizes[n - 1])
        assert b".starts with a dot" in raw   # byte-stuffing undone by poplib
    resp, lines, _ = p.top(1, 0)
    assert lines[-1] == b"" and not any(b"message 0" in l for l in lines)
    resp, lines, _ = p.top(1, 1)
    assert lines[-1] == b".starts with a dot"
    assert p.noop() == b"+OK"
    assert p.dele(2).startswith(b"+OK")
    with pytest.raises(poplib.error_proto):
        p.retr(2)                     # deleted
    with pytest.raises(poplib.error_proto):
        p.retr(4)                     # no such message
    assert p.stat()[0] == 2
    assert p.rset().startswith(b"+OK")
    assert p.stat()[0] == 3
    p.dele(2)
    assert p.quit().startswith(b"+OK")
    assert len(pop.messages("alice@example.test")) == 2
    # retrieved messages are \Seen in the Maildir (flag S in cur/)
    cur = os.listdir(os.path.join(pop.maildir("alice@example.test"), "cur"))
    assert all(n.endswith(":2,S") for n in cur), cur


def test_dele_then_dropped_connection_deletes_nothing(pop):
    p = login(pop)
    p.dele(1)
    p.dele(2)
    p.file.close()
    p.sock.close()                    # no QUIT: no UPDATE state
    time.sleep(0.5)
    p = login(pop)
    assert p.stat()[0] == 3
    p.quit()


def test_uidl_stable_across_restart_and_index_loss(pop):
    p = login(pop)
    before = p.uidl()[1]
    p.quit()
    pop.stop()
    pop.proc = None
    pop.start()
    p = login(pop)
    assert p.uidl()[1] == before
    p.quit()
    pop.stop()
    pop.proc = None
    # the index is ours to lose: the UIDLs must survive its rebuild
    box = pop.maildir("alice@example.test")
    for name in os.listdir(box):
        if name == "youju.index":
            os.unlink(os.path.join(box, name))
    pop.start()
    p = login(pop)
    assert p.uidl()[1] == before
    p.quit()


def test_in_use(pop):
    p1 = login(pop)
    p2 = poplib.POP3("127.0.0.1", pop.ports["pop3"], timeout=10)
    p2.user("alice@example.test")
    with pytest.raises(poplib.error_proto) as e:
        p2.pass_("pw-alice")
    assert b"[IN-USE]" in e.value.args[0]
    p1.quit()
    login(pop).quit()


def test_failed_login_and_bad_commands(pop):
    p = poplib.POP3("127.0.0.1", pop.ports["pop3"], timeout=10)
    p.user("alice@example.test")
    t0 = time.time()
    with pytest.raises(poplib.error_proto) as e1:
        p.pass_("wrong")
    assert time.time() - t0 >= 1.5          # failures are delayed
    p.user("nobody@example.test")
    with pytest.raises(poplib.error_proto) as e2:
        p.pass_("wrong")
    assert e1.value.args[0] == e2.value.args[0] == b"-ERR [AUTH] Authentication failed"
    c = Raw(pop.ports["pop3"])
    assert c._line().startswith("+OK")
    for _ in range(3):
        c.send("FROB\r\n")
        c._line()
    assert c.closed()
    c = Raw(pop.ports["pop3"])
    c._line()
    c.send("USER " + "a" * 300 + "\r\n")
    assert c._line().startswith("-ERR")
    c.send("STAT\r\n")
    assert c._line().startswith("-ERR")   # not logged in
    c.close()


def test_stls_injection_and_plaintext_policy(pop):
    c = Raw(pop.ports["pop3"])
    c._line()
    c.send("STLS\r\nCAPA\r\n")
    assert c._line().startswith("+OK")
    assert c.buf == b""
    c.starttls()
    c.sock.settimeout(1.5)
    try:
        data = c.sock.recv(100)
    except socket.timeout:
        data = b""
    assert data == b"", data                 # the injected CAPA got no answer
    c.sock.settimeout(10)
    c.send("CAPA\r\n")
    lines = [c._line()]
    while lines[-1] != ".":
        lines.append(c._line())
    assert "STLS" not in lines and "USER" in lines
    c.close()
    # without TLS and with plaintext refused, no password may be sent
    pop.stop()
    pop.proc = None
    pop.extra += "auth_allow_plaintext = no\n"
    pop.write_config()
    pop.start()
    p = poplib.POP3("127.0.0.1", pop.ports["pop3"], timeout=10)
    assert "USER" not in p.capa()
    with pytest.raises(poplib.error_proto):
        p.user("alice@example.test")
    p.stls(context=NOVERIFY)
    p.user("alice@example.test")
    assert p.pass_("pw-alice").startswith(b"+OK")
    p.quit()


def test_auth_plain_and_login(pop):
    c = Raw(pop.ports["pop3s"])
    c.starttls()
    assert c._line().startswith("+OK")
    import base64
    ir = base64.b64encode(b"\0alice@example.test\0pw-alice").decode()
    c.send(f"AUTH PLAIN {ir}\r\n")
    assert c._line().startswith("+OK")
    c.send("QUIT\r\n")
    assert c._line().startswith("+OK")
    c = Raw(pop.ports["pop3s"])
    c.starttls()
    c._line()
    c.send("AUTH LOGIN\r\n")
    assert c._line().startswith("+ ")
    c.send(base64.b64encode(b"alice@example.test").decode() + "\r\n")
    assert c._line().startswith("+ ")
    c.send(base64.b64encode(b"pw-alice").decode() + "\r\n")
    assert c._line().startswith("+OK")
    c.send("STAT\r\n")
    assert c._line().startswith("+OK 3 ")
    c.send("QUIT\r\n")
    c._line()


def test_curl_pop3_and_pop3s(pop):
    base = ["curl", "-sS", "--max-time", "10", "--user", "alice@example.test:pw-alice"]
    r = subprocess.run(base + [f"pop3://127.0.0.1:{pop.ports['pop3']}/"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("1 "), r.stderr
    r = subprocess.run(base + ["-k", f"pop3s://127.0.0.1:{pop.ports['pop3s']}/1"], capture_output=True, text=True)
    assert r.returncode == 0 and "Subject: pop" in r.stdout, r.stderr
    r = subprocess.run(base + ["--ssl-reqd", "-k", f"pop3://127.0.0.1:{pop.ports['pop3']}/", "-X", "STAT", "-I"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_fetchmail_downloads_and_deletes(pop):
    d = pop.dir
    out = os.path.join(d, "fm")
    os.makedirs(out)
    rc = os.path.join(d, "fetchmailrc")
    with open(rc, "w") as f:
        f.write(f"""poll localhost service {pop.ports['pop3s']} protocol POP3 timeout 20
  user "alice@example.test" there password "pw-alice" is "root" here
  ssl sslproto TLS1.2+ sslcertck sslcertfile {pop.cert}
  mda "/bin/sh -c 'cat > {out}/msg.$$'"
""")
    os.chmod(rc, 0o600)
    env = dict(os.environ, FETCHMAILHOME=d)
    r = subprocess.run(["fetchmail", "-f", rc, "--nodetach", "-s"], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    got = os.listdir(out)
    assert len(got) == 3
    # without --keep fetchmail deleted them on the server
    assert pop.messages("alice@example.test") == []
