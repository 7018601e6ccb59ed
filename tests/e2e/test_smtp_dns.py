"""Sender-domain checks through DNS (libunbound) against a dnsmasq the
test starts on loopback: NXDOMAIN is a 550, a DNS failure a 450."""
import os
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import Youju, BINARIES, free_port
from smtpclient import Raw, open_tx


@pytest.fixture
def dns():
    d = tempfile.mkdtemp(prefix="youju-dns-")
    port = free_port()
    conf = f"{d}/dnsmasq.conf"
    with open(conf, "w") as f:
        f.write(f"""port={port}
listen-address=127.0.0.1
bind-interfaces
no-resolv
no-hosts
no-poll
local=/example/
local=/test/
pid-file={d}/dnsmasq.pid
host-record=mx.good.example,127.0.0.1
mx-host=good.example,mx.good.example,10
host-record=aonly.example,127.0.0.1
""")
    subprocess.run(["dnsmasq", "-C", conf, "--user=root"], check=True)
    yield port
    with open(f"{d}/dnsmasq.pid") as f:
        os.kill(int(f.read()), signal.SIGTERM)


def test_sender_domain_checks(dns):
    dead = free_port()   # nothing answers there
    y = Youju(BINARIES["plain"], f"trusted_networks =\ndns_servers = 127.0.0.1@{dns}\ndns_timeout = 2s\n")
    y.start()
    try:
        y.setup_users()
        c = open_tx(y.ports["smtp"], sender=None)
        c.expect(250, "MAIL FROM:<a@good.example>")
        c.expect(250, "RSET")
        c.expect(250, "MAIL FROM:<a@aonly.example>")
        c.expect(250, "RSET")
        lines = c.expect(550, "MAIL FROM:<a@nonexistent.example>")
        assert lines[0].startswith("550 5.1.8")
        c.expect(250, "MAIL FROM:<>")   # the null sender has no domain to check
        c.expect(221, "QUIT")
        # trusted clients are exempt
        y.stop()
        y.proc = None
        y.extra = f"dns_servers = 127.0.0.1@{dead}\ndns_timeout = 1s\ntrusted_networks =\n"
        y.write_config()
        y.start()
        c = open_tx(y.ports["smtp"], sender=None)
        t0 = time.time()
        lines = c.expect(450, "MAIL FROM:<a@good.example>")
        assert lines[0].startswith("450 4.1.8"), lines
        assert time.time() - t0 < 10
        c.expect(221, "QUIT")
        y.stop()
        y.proc = None
        y.extra = f"dns_servers = 127.0.0.1@{dead}\ndns_timeout = 1s\n"   # loopback trusted by default
        y.write_config()
        y.start()
        c = open_tx(y.ports["smtp"], sender=None)
        c.expect(250, "MAIL FROM:<a@nonexistent.example>")
        c.expect(221, "QUIT")
    finally:
        y.stop()
        y.cleanup()
