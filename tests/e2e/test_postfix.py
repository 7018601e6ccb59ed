"""A real Postfix (Debian's, started by the test on loopback) relays a
message to youju over STARTTLS."""
import os
import shutil
import subprocess
import tempfile
import time

from test_smtp import make, swaks

MASTER_CF = """{port}      inet  n       -      n      -      -       smtpd
pickup      unix  n       -      n      60     1       pickup
cleanup     unix  n       -      n      -      0       cleanup
qmgr        unix  n       -      n      300    1       qmgr
tlsmgr      unix  -       -      n      1000?  1       tlsmgr
rewrite     unix  -       -      n      -      -       trivial-rewrite
bounce      unix  -       -      n      -      0       bounce
defer       unix  -       -      n      -      0       bounce
trace       unix  -       -      n      -      0       bounce
verify      unix  -       -      n      -      1       verify
flush       unix  n       -      n      1000?  0       flush
proxymap    unix  -       -      n      -      -       proxymap
proxywrite  unix  -       -      n      -      1       proxymap
smtp        unix  -       -      n      -      -       smtp
relay       unix  -       -      n      -      -       smtp
showq       unix  n       -      n      -      -       showq
error       unix  -       -      n      -      -       error
retry       unix  -       -      n      -      -       error
discard     unix  -       -      n      -      -       discard
local       unix  -       n      n      -      -       local
virtual     unix  -       n      n      -      -       virtual
lmtp        unix  -       -      n      -      -       lmtp
anvil       unix  -       -      n      -      1       anvil
scache      unix  -       -      n      -      1       scache
postlog     unix-dgram n  -      n      -      1       postlogd
"""


def postfix(etc, *args):
    # postfix prints its errors only to a tty
    return subprocess.run(["script", "-qec", " ".join(["postfix", "-c", etc, *args]), "/dev/null"],
                          capture_output=True, text=True, timeout=60)


def test_postfix_relays_over_starttls():
    y = make()
    d = tempfile.mkdtemp(prefix="youju-pf-")
    os.chmod(d, 0o755)   # postfix daemons run as postfix
    etc = f"{d}/etc"
    try:
        from conftest import free_port
        port = free_port()
        os.makedirs(etc)
        os.makedirs(f"{d}/spool")
        os.makedirs(f"{d}/data")
        shutil.chown(f"{d}/data", "postfix")
        with open(f"{etc}/main.cf", "w") as f:
            f.write(f"""compatibility_level = 3.6
queue_directory = {d}/spool
data_directory = {d}/data
maillog_file = {d}/maillog
maillog_file_prefixes = /tmp
myhostname = relay.example.org
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{y.ports['smtp']}
smtp_tls_security_level = encrypt
smtp_tls_loglevel = 1
""")
        with open(f"{etc}/master.cf", "w") as f:
            f.write(MASTER_CF.format(port=f"127.0.0.1:{port}"))
        r = postfix(etc, "start")
        assert r.returncode == 0, r.stdout + r.stderr
        for _ in range(50):
            r = subprocess.run(["swaks", "--server", f"127.0.0.1:{port}", "--timeout", "10",
                                "--from", "carol@example.org", "--to", "alice@example.test",
                                "--header", "Subject: via postfix"], capture_output=True, text=True)
            if r.returncode == 0:
                break
            time.sleep(0.2)
        assert r.returncode == 0, r.stdout
        (msg,) = y.wait_messages("alice@example.test", 1, timeout=60)
        assert b"Subject: via postfix" in msg
        # the youju hop was TLS, and Postfix logged the relay as sent
        assert b"by mx.example.test (youju) with ESMTPS" in msg
        assert b"from relay.example.org" in msg
        deadline = time.time() + 20
        while time.time() < deadline:
            log = open(f"{d}/maillog").read() if os.path.exists(f"{d}/maillog") else ""
            if "status=sent" in log:
                break
            time.sleep(0.2)
        assert "status=sent (250 2.0.0 Ok: queued as" in log, log
        assert "TLS connection established to 127.0.0.1" in log
    finally:
        postfix(etc, "stop")
        y.stop()
        y.cleanup()
        shutil.rmtree(d, ignore_errors=True)
