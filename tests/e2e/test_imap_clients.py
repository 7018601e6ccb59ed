"""IMAP (and POP3) interoperability with real third-party clients: curl
(imap://, STARTTLS, imaps://), mbsync syncing a Maildir both ways, with and
without COMPRESS=DEFLATE, offlineimap, fetchmail over IMAP, and mutt reading
over imaps:// and fetching over pops://. One server for the module; every test
works on a user of its own so the tests do not disturb each other. Every
client runs with its configuration in the test's directory and HOME pointing
there, and under a timeout."""
import imaplib
import os
import re
import shlex
import subprocess

import pytest

from test_smtp import make, swaks

DOMAIN = "example.test"
TIMEOUT = 30


@pytest.fixture(scope="module")
def srv():
    y = make("plain")
    yield y
    y.stop()
    y.cleanup()


@pytest.fixture
def work(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    return tmp_path


def add_user(y, name):
    email = f"{name}@{DOMAIN}"
    r = y.cli("user", "add", email, "--password-stdin", input=f"pw-{name}\n")
    assert r.returncode == 0, r.stderr
    return email, f"pw-{name}"


def deliver(y, to, subjects):
    """{subject: message as stored} for each delivered message."""
    for s in subjects:
        r = swaks(y, "--from", "sender@example.org", "--to", to,
                  "--header", f"Subject: {s}", "--body", f"body of {s}\n")
        assert r.returncode == 0, r.stdout + r.stderr
    stored = y.wait_messages(to, len(subjects))
    out = {re.search(rb"^Subject: (.*)$", m, re.M).group(1).decode(): m for m in stored}
    assert sorted(out) == sorted(subjects)
    return out


def run(y, cmd, timeout=TIMEOUT, env=None, **kw):
    """Run a client; a hang becomes a test failure that shows what the
    client said so far and the end of the server's log."""
    e = dict(os.environ)
    e.update(env or {})
    try:
        return subprocess.run(cmd, capture_output=True, timeout=timeout, env=e,
                              stdin=subprocess.DEVNULL, **kw)
    except subprocess.TimeoutExpired as ex:
        out = (ex.stdout or b"").decode(errors="replace")
        err = (ex.stderr or b"").decode(errors="replace")
        raise AssertionError(f"{cmd!r} still running after {timeout}s\nstdout:\n{out[-6000:]}\n"
                             f"stderr:\n{err[-3000:]}\nserver log:\n{y.read_log()[-3000:]}") from None


def in_pty(cmd):
    """Clients that only work with a terminal (mutt; mbsync's progress
    counters) run under script(1)."""
    return ["script", "-qec", shlex.join(cmd), "/dev/null"]


def text(r):
    return (r.stdout + r.stderr).decode(errors="replace")


def imap_login(y, email, pw):
    m = imaplib.IMAP4("127.0.0.1", y.ports["imap"], timeout=15)
    assert m.login(email, pw)[0] == "OK"
    return m


def server_state(y, email, pw, box="INBOX"):
    """{uid: (flags, message)} of a folder, read without changing it, and
    the folder's UIDNEXT and HIGHESTMODSEQ (any write moves the latter)."""
    m = imap_login(y, email, pw)
    typ, data = m.select(box, readonly=True)
    assert typ == "OK", data
    uidnext = int(m.untagged_responses["UIDNEXT"][-1])
    typ, data = m.status(box, "(HIGHESTMODSEQ)")
    assert typ == "OK", data
    modseq = int(re.search(rb"HIGHESTMODSEQ (\d+)", data[0]).group(1))
    msgs = {}
    if int(m.untagged_responses["EXISTS"][-1]) > 0:
        typ, data = m.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
        assert typ == "OK", data
        for item in data:
            if isinstance(item, tuple):
                uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
                flags = set(re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode().split())
                flags.discard("\\Recent")
                msgs[uid] = (flags, item[1].replace(b"\r\n", b"\n"))
    m.logout()
    return msgs, uidnext, modseq


def maildir_state(path):
    """{file name: content} of a client's Maildir folder."""
    out = {}
    for sub in ("new", "cur"):
        d = os.path.join(path, sub)
        for name in os.listdir(d):
            with open(os.path.join(d, name), "rb") as f:
                out[f"{sub}/{name}"] = f.read()
    return out


def maildir_flags(name):
    return name.rsplit(":2,", 1)[1] if ":2," in name else ""


def mbox_messages(path):
    with open(path, "rb") as f:
        data = f.read()
    parts = re.split(rb"(?:^|\n)From [^\n]*\n", data)
    return [p for p in parts if p.strip()]


# ---- curl ----

def curl(y, *args, user=None, timeout=30):
    email, pw = user
    return run(y, ["curl", "-q", "-sS", "--max-time", "20", "--user", f"{email}:{pw}", *args], timeout=timeout)


def test_curl_list_fetch_by_uid_and_search(srv, work):
    user = add_user(srv, "curl1")
    msgs = deliver(srv, user[0], ["curl one", "curl two"])
    base = f"imap://127.0.0.1:{srv.ports['imap']}"
    r = curl(srv, base + "/", user=user)
    assert r.returncode == 0, text(r)
    lines = r.stdout.decode().splitlines()
    assert any(re.fullmatch(r'\* LIST \([^)]*\) "[/.]" "?INBOX"?', l) for l in lines), lines
    # UID 2 is the second delivery, byte for byte (CRLF on the wire)
    r = curl(srv, base + "/INBOX;UID=2", user=user)
    assert r.returncode == 0, text(r)
    assert r.stdout.replace(b"\r\n", b"\n") == msgs["curl two"]
    r = curl(srv, base + "/INBOX;UID=1;SECTION=HEADER.FIELDS%20(SUBJECT)", user=user)
    assert r.returncode == 0, text(r)
    assert r.stdout.replace(b"\r\n", b"\n").strip() == b"Subject: curl one"
    r = curl(srv, base + "/INBOX?SUBJECT%20%22curl%20two%22", user=user)
    assert r.returncode == 0, text(r)
    assert r.stdout.decode().split() == ["*", "SEARCH", "2"]
    # a URL fetch uses BODY[] and so sets \Seen
    state, _, _ = server_state(srv, *user)
    assert state[1][0] == {"\\Seen"} and state[2][0] == {"\\Seen"}


def test_curl_starttls_required(srv, work):
    user = add_user(srv, "curl2")
    deliver(srv, user[0], ["curl tls"])
    r = curl(srv, "-v", "--ssl-reqd", "--cacert", srv.cert,
             f"imap://localhost:{srv.ports['imap']}/INBOX;UID=1", user=user)
    assert r.returncode == 0, text(r)
    trace = r.stderr.decode(errors="replace")
    assert re.search(r"^> A\d+ STARTTLS", trace, re.M), trace
    assert b"Subject: curl tls" in r.stdout


def test_curl_imaps(srv, work):
    user = add_user(srv, "curl3")
    deliver(srv, user[0], ["curl imaps"])
    r = curl(srv, "--cacert", srv.cert, f"imaps://localhost:{srv.ports['imaps']}/INBOX;UID=1", user=user)
    assert r.returncode == 0, text(r)
    assert b"Subject: curl imaps" in r.stdout
    r = curl(srv, "--cacert", srv.cert, f"imaps://localhost:{srv.ports['imaps']}/", user=user)
    assert r.returncode == 0 and b"INBOX" in r.stdout, text(r)


def test_curl_wrong_password_is_67(srv, work):
    email, _ = add_user(srv, "curl4")
    r = curl(srv, f"imap://127.0.0.1:{srv.ports['imap']}/", user=(email, "wrong"))
    assert r.returncode == 67, text(r)
    r = curl(srv, "-k", f"imaps://127.0.0.1:{srv.ports['imaps']}/", user=(email, "wrong"))
    assert r.returncode == 67, text(r)


# ---- mbsync ----

def mbsync_counters(out):
    """The last progress line: C: boxes, B: ..., F: +added *flagged #deleted
    on the far side (youju), N: the same for the near side (Maildir)."""
    lines = re.findall(r"C: \d+/\d+  B: \d+/\d+  F: \+(\d+)/(\d+) \*(\d+)/(\d+) #(\d+)/(\d+)  "
                       r"N: \+(\d+)/(\d+) \*(\d+)/(\d+) #(\d+)/(\d+)", out)
    assert lines, out
    v = [int(x) for x in lines[-1]]
    assert v[0::2] == v[1::2], lines[-1]          # every planned step done
    return {"far": (v[1], v[3], v[5]), "near": (v[7], v[9], v[11])}


def no_tuid(msg):
    """mbsync marks each message it copies with its own X-TUID: header."""
    return re.sub(rb"\nX-TUID: [^\n]*\n", b"\n", msg, count=1)


@pytest.mark.parametrize("compress", [True, False], ids=["compress", "no-compress"])
def test_mbsync_two_way(srv, work, compress):
    name = "mbsz" if compress else "mbsp"
    email, pw = add_user(srv, name)
    deliver(srv, email, ["mb one", "mb two", "mb three"])
    m = imap_login(srv, email, pw)
    m.select("INBOX")
    assert m.uid("STORE", "1", "+FLAGS", "(\\Flagged)")[0] == "OK"
    assert m.uid("STORE", "2", "+FLAGS", "(\\Seen \\Answered)")[0] == "OK"
    m.logout()
    before, _, _ = server_state(srv, email, pw)

    local = work / "mail"
    local.mkdir()
    inbox = local / "INBOX"
    rc = work / "mbsyncrc"
    rc.write_text(f"""IMAPAccount youju
Host localhost
Port {srv.ports['imap']}
User {email}
Pass {pw}
SSLType STARTTLS
SSLVersions TLSv1.2 TLSv1.3
CertificateFile {srv.cert}
{"" if compress else "DisableExtensions COMPRESS=DEFLATE"}

IMAPStore youju-remote
Account youju

MaildirStore local
Path {local}/
Inbox {inbox}
SubFolders Verbatim

Channel box
Far :youju-remote:INBOX
Near :local:INBOX
Create Both
Expunge Both
SyncState *
""")

    def sync():
        r = run(srv, in_pty(["mbsync", "-V", "-c", str(rc), "box"]), env={"HOME": str(work / "home"),
                                                                          "TERM": "dumb"})
        out = text(r).replace("\r", "\n")
        assert r.returncode == 0, out
        return out, mbsync_counters(out)

    # 1: everything comes down, with its flags (F flagged, S seen, R replied)
    out, n = sync()
    assert n["near"] == (3, 0, 0) and n["far"] == (0, 0, 0), out
    files = maildir_state(inbox)
    assert len(files) == 3, files
    by_uid = {int(re.search(r",U=(\d+)", f).group(1)): f for f in files}
    assert sorted(by_uid) == [1, 2, 3]
    assert maildir_flags(by_uid[1]) == "F"
    assert maildir_flags(by_uid[2]) == "RS"
    assert maildir_flags(by_uid[3]) == ""
    for uid in (1, 2, 3):
        assert no_tuid(files[by_uid[uid]]) == before[uid][1]

    # 2: flag one locally, delete one, write a new one; all goes up
    old = inbox / by_uid[3]
    base = old.name.split(":2,")[0]
    os.rename(old, inbox / "cur" / (base + ":2,FS"))
    os.unlink(inbox / by_uid[1])
    new_msg = (b"From: me@example.test\nTo: " + email.encode() + b"\nSubject: written locally\n"
               b"Message-ID: <local-1@example.test>\n\nlocal body\n")
    (inbox / "new" / "1700000000.local1.host").write_bytes(new_msg)
    out, n = sync()
    # a local deletion goes up as a \Deleted flag (then the expunge):
    # two flag updates and one new message
    assert n["far"] == (1, 2, 0) and n["near"] == (0, 0, 0), out
    after, uidnext, _ = server_state(srv, email, pw)
    assert 1 not in after, after                      # deleted and expunged
    assert after[2][0] == {"\\Seen", "\\Answered"}
    assert after[3][0] == {"\\Seen", "\\Flagged"}
    (new_uid,) = [u for u in after if u > 3]
    assert after[new_uid][0] == set() and no_tuid(after[new_uid][1]) == new_msg
    assert uidnext == new_uid + 1
    files = maildir_state(inbox)
    assert len(files) == 3
    assert any(f.startswith("new/1700000000.local1.host,U=%d" % new_uid) for f in files), files

    # 3: nothing left to do: no transfer, and neither side changes
    server_before = server_state(srv, email, pw)
    out, n = sync()
    assert n == {"far": (0, 0, 0), "near": (0, 0, 0)}, out
    assert maildir_state(inbox) == files
    assert server_state(srv, email, pw) == server_before


# ---- offlineimap ----

def test_offlineimap_inbox_and_subfolder(srv, work):
    email, pw = add_user(srv, "oimap")
    deliver(srv, email, ["oi one", "oi two"])
    m = imap_login(srv, email, pw)
    assert m.create("Projects/Sub")[0] == "OK"
    sub_msg = b"From: me@example.test\r\nSubject: in the subfolder\r\n\r\nsub body\r\n"
    assert m.append("Projects/Sub", "(\\Flagged)", None, sub_msg)[0] == "OK"
    m.select("INBOX")
    assert m.uid("STORE", "2", "+FLAGS", "(\\Seen)")[0] == "OK"
    m.logout()
    inbox_before = server_state(srv, email, pw)
    sub_before = server_state(srv, email, pw, "Projects/Sub")

    rc = work / "offlineimaprc"
    rc.write_text(f"""[general]
accounts = youju
metadata = {work}/oi-meta

[Account youju]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {work}/oi-mail

[Repository remote]
type = IMAP
remotehost = localhost
remoteport = {srv.ports['imaps']}
remoteuser = {email}
remotepass = {pw}
ssl = yes
sslcacertfile = {srv.cert}
folderfilter = lambda f: f in ["INBOX", "Projects/Sub"]
""")

    def sync():
        r = run(srv, ["offlineimap", "-c", str(rc), "-o", "-u", "basic"], env={"HOME": str(work / "home")})
        out = text(r)
        assert r.returncode == 0 and "*** Finished account 'youju'" in out, out
        assert "ERROR" not in out and "WARNING" not in out, out
        return out

    out = sync()
    assert len(re.findall(r"Copy message UID \d+ .* remote:INBOX -> local:INBOX", out)) == 2, out
    inbox = maildir_state(work / "oi-mail" / "INBOX")
    sub = maildir_state(work / "oi-mail" / "Projects.Sub")
    by_uid = {int(re.search(r",U=(\d+)", f).group(1)): (f, c) for f, c in inbox.items()}
    assert sorted(by_uid) == [1, 2]
    assert maildir_flags(by_uid[1][0]) == "" and maildir_flags(by_uid[2][0]) == "S"
    for uid in (1, 2):
        assert by_uid[uid][1] == inbox_before[0][uid][1]
    (name, content), = sub.items()
    assert maildir_flags(name) == "F" and content == sub_msg.replace(b"\r\n", b"\n")

    out = sync()
    assert not re.search(r"Copy message|[Aa]dding flag|[Dd]eleting flag|[Dd]eleting \d+ message", out), out
    assert maildir_state(work / "oi-mail" / "INBOX") == inbox
    assert maildir_state(work / "oi-mail" / "Projects.Sub") == sub
    assert server_state(srv, email, pw) == inbox_before
    assert server_state(srv, email, pw, "Projects/Sub") == sub_before


# ---- fetchmail ----

def test_fetchmail_imap_starttls_deletes(srv, work):
    email, pw = add_user(srv, "fmimap")
    msgs = deliver(srv, email, ["fm one", "fm two", "fm three"])
    out = work / "out"
    out.mkdir()
    rc = work / "fetchmailrc"
    rc.write_text(f"""set no syslog
poll localhost service {srv.ports['imap']} protocol IMAP auth password timeout 20
  user "{email}" there password "{pw}" is "root" here
  folder "INBOX"
  sslproto TLS1.2+ sslcertck sslcertfile {srv.cert}
  mda "/bin/sh -c 'cat > {out}/msg.$$'"
""")
    os.chmod(rc, 0o600)
    env = {"FETCHMAILHOME": str(work), "HOME": str(work / "home")}
    r = run(srv, ["fetchmail", "-f", str(rc), "--nodetach", "-v"], env=env)
    log = text(r)
    assert r.returncode == 0, log
    assert re.search(r"IMAP> A\d+ STARTTLS", log), log
    assert len(re.findall(r"IMAP> A\d+ STORE \d+ \+FLAGS \(\\Seen \\Deleted\)", log)) == 3, log
    assert re.search(r"IMAP> A\d+ EXPUNGE", log), log
    got = []
    for f in os.listdir(out):
        with open(out / f, "rb") as fh:
            got.append(fh.read())
    assert len(got) == 3, got
    # each message arrives whole, plus fetchmail's own Received: trace
    got = [re.sub(rb"Received: from localhost [^\n]*\n(?:\t[^\n]*\n)*", b"", g, count=1) for g in got]
    assert sorted(got) == sorted(msgs.values())
    # keep was off: the server's mailbox is empty
    assert srv.messages(email) == []
    state, _, _ = server_state(srv, email, pw)
    assert state == {}
    r = run(srv, ["fetchmail", "-f", str(rc), "--nodetach"], env=env)
    assert r.returncode == 1, text(r)          # 1 = no mail


# ---- mutt ----

MUTT_COMMON = """set ssl_ca_certificates_file = "{cert}"
set certificate_file = "{work}/mutt-certs"
set ssl_force_tls = yes
set record = ""
set move = no
set mbox_type = mbox
set header_cache = ""
set message_cachedir = ""
set confirmcreate = no
set confirmappend = no
set quit = yes
set timeout = 0
set mail_check = 60
set folder = "{work}"
"""


def mutt(srv, work, rc, keys):
    cmd = ["mutt", "-n", "-F", str(rc), "-e", f'push "{keys}"']
    r = run(srv, in_pty(cmd), env={"HOME": str(work / "home"), "TERM": "xterm"})
    assert r.returncode == 0, text(r)
    return r


def test_mutt_reads_imaps_folder(srv, work):
    email, pw = add_user(srv, "muttimap")
    msgs = deliver(srv, email, ["mutt one", "mutt two"])
    rc = work / "muttrc"
    rc.write_text(MUTT_COMMON.format(cert=srv.cert, work=work) + f"""set spoolfile = "imaps://localhost:{srv.ports['imaps']}/INBOX"
set imap_user = "{email}"
set imap_pass = "{pw}"
""")
    saved = work / "saved.mbox"
    mutt(srv, work, rc, f"<tag-pattern>~A<enter><tag-prefix><copy-message>{saved}<enter><quit>")
    got = mbox_messages(saved)
    assert len(got) == 2, got
    for subject, msg in msgs.items():
        (g,) = [g for g in got if re.search(rb"^Subject: " + subject.encode() + rb"$", g, re.M)]
        # mutt may add Status:/Lines:; every header line and the body arrive
        head, body = msg.split(b"\n\n", 1)
        ghead, gbody = g.split(b"\n\n", 1)
        assert set(head.split(b"\n")) <= set(ghead.split(b"\n")), (msg, g)
        assert gbody.rstrip(b"\n") == body.rstrip(b"\n"), (msg, g)
    # a copy leaves the originals on the server
    state, _, _ = server_state(srv, email, pw)
    assert len(state) == 2


def test_mutt_fetches_over_pops(srv, work):
    email, pw = add_user(srv, "muttpop")
    msgs = deliver(srv, email, ["pop one", "pop two"])
    spool = work / "spool.mbox"
    spool.write_bytes(b"")
    rc = work / "muttrc"
    rc.write_text(MUTT_COMMON.format(cert=srv.cert, work=work) + f"""set pop_host = "pops://localhost:{srv.ports['pop3s']}"
set pop_user = "{email}"
set pop_pass = "{pw}"
set pop_delete = yes
set spoolfile = "{spool}"
""")
    mutt(srv, work, rc, "<fetch-mail><quit>")
    got = mbox_messages(spool)
    assert len(got) == 2, got
    for subject, msg in msgs.items():
        (g,) = [g for g in got if re.search(rb"^Subject: " + subject.encode() + rb"$", g, re.M)]
        head, body = msg.split(b"\n\n", 1)
        ghead, gbody = g.split(b"\n\n", 1)
        assert set(head.split(b"\n")) <= set(ghead.split(b"\n")), (msg, g)
        assert gbody.rstrip(b"\n") == body.rstrip(b"\n"), (msg, g)
    # pop_delete: fetched mail is gone from the server
    assert srv.messages(email) == []
