"""End-to-end fixtures: a real `youju serve` in a temporary directory on free
loopback ports, driven by the real CLI. As root (CI), the roles run as their
own users with front chrooted, exactly as in production."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARIES = {
    "plain": os.path.join(TOP, "build", "youju"),
    "asan": os.path.join(TOP, "build", "asan", "youju"),
}
os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0")
os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
ROLE_USERS = ["youju", "youju-auth", "youju-queue", "vmail"]
SERVICES = ["smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s"]


def ensure_role_users():
    if os.geteuid() != 0:
        return
    for u in ROLE_USERS:
        if subprocess.run(["id", u], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                            "/usr/sbin/nologin", u], check=True)


def free_port():
    return free_ports(1)[0]


def free_ports(n):
    """n distinct free ports: all sockets stay bound until every port is
    chosen, so the kernel cannot hand out the same port twice."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


CERT_DIR = None


def test_cert():
    """A self-signed certificate for localhost, made once per test run."""
    global CERT_DIR
    if CERT_DIR is None:
        CERT_DIR = tempfile.mkdtemp(prefix="youju-cert-")
        os.chmod(CERT_DIR, 0o755)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", f"{CERT_DIR}/key.pem", "-out", f"{CERT_DIR}/cert.pem",
                        "-days", "30", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)
    return f"{CERT_DIR}/cert.pem", f"{CERT_DIR}/key.pem"


class Youju:
    def __init__(self, binary, extra=""):
        ensure_role_users()
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="youju-e2e-")
        os.chmod(self.dir, 0o755)   # role users must reach their files
        self.conf = os.path.join(self.dir, "youju.conf")
        self.log = os.path.join(self.dir, "youju.log")
        self.ports = dict(zip(SERVICES, free_ports(len(SERVICES))))
        self.proc = None
        self.cert, self.key = test_cert()
        self.extra = extra
        self.write_config()

    def config_text(self, extra=""):
        d = self.dir
        lines = [
            "hostname = mx.example.test",
            f"state_dir = {d}",
            f"control_socket = {d}/control.sock",
            f"pid_file = {d}/youju.pid",
            f"sqlite_path = {d}/directory.db",
            f"mail_dir = {d}/mail",
            f"spool_dir = {d}/spool",
            f"front_chroot = {d}/empty",
            "log_target = file",
            f"log_file = {self.log}",
            "role_restart_delay = 200ms",
            "shutdown_timeout = 5s",
            f"tls_cert = {self.cert}",
            f"tls_key = {self.key}",
            "queue_retry_delay = 500ms",
            "queue_min_free = 1M",
        ]
        lines += [f"{s}_listen = 127.0.0.1:{p}" for s, p in self.ports.items()]
        return "\n".join(lines) + "\n" + self.extra + extra

    def write_config(self, extra=""):
        with open(self.conf, "w") as f:
            f.write(self.config_text(extra))

    def cli(self, *args, input=None, timeout=30):
        return subprocess.run([self.binary, "-c", self.conf, *args], input=input,
                              capture_output=True, text=True, timeout=timeout)

    def start(self):
        self.proc = subprocess.Popen([self.binary, "-c", self.conf, "serve"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.wait_for(lambda: self.all_running(), what="all roles running")

    def status(self):
        r = self.cli("status", timeout=10)
        return r.stdout if r.returncode == 0 else ""

    def roles(self):
        """{role: (pid, state, restarts)} from `youju status`."""
        out = {}
        for line in self.status().splitlines():
            f = line.split()
            if len(f) == 5 and f[0] in ("front", "auth", "queue", "mail") and f[1].isdigit():
                out[f[0]] = (int(f[1]), f[2], int(f[4]))
        return out

    def all_running(self):
        r = self.roles()
        return len(r) == 4 and all(v[1] == "running" for v in r.values())

    def wait_for(self, cond, timeout=20, what="condition"):
        end = time.time() + timeout
        while time.time() < end:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"youju exited ({self.proc.returncode}) waiting for {what}:\n"
                                     + self.proc.stdout.read() + self.read_log())
            if cond():
                return
            time.sleep(0.1)
        raise AssertionError(f"timeout waiting for {what}\n" + self.read_log())

    def read_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            out = self.proc.stdout.read()
            self.proc.stdout.close()
            # sanitizer reports of any role land in the log file or stdout
            text = out + self.read_log()
            assert "ERROR: AddressSanitizer" not in text, text
            assert "runtime error:" not in text, text

    def maildir(self, email):
        local, domain = email.split("@")
        return os.path.join(self.dir, "mail", domain, local)

    def messages(self, email):
        """Contents of every delivered message in the mailbox (new/ and cur/)."""
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(self.maildir(email), sub)
            if os.path.isdir(d):
                for name in sorted(os.listdir(d)):
                    with open(os.path.join(d, name), "rb") as f:
                        out.append(f.read())
        return out

    def wait_messages(self, email, n, timeout=20):
        self.wait_for(lambda: len(self.messages(email)) >= n, timeout=timeout,
                      what=f"{n} message(s) for {email}")
        return self.messages(email)

    def setup_users(self, domain="example.test", users=("alice", "bob")):
        assert self.cli("domain", "add", domain).returncode == 0
        for u in users:
            r = self.cli("user", "add", f"{u}@{domain}", "--password-stdin", input="pw-" + u + "\n")
            assert r.returncode == 0, r.stderr

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(params=["plain", "asan"])
def youju(request):
    y = Youju(BINARIES[request.param])
    y.start()
    yield y
    y.stop()
    y.cleanup()


@pytest.fixture
def youju_plain():
    y = Youju(BINARIES["plain"])
    y.start()
    yield y
    y.stop()
    y.cleanup()


@pytest.fixture
def instance():
    """A configured instance that is not started (CLI-only tests)."""
    y = Youju(BINARIES["plain"])
    yield y
    y.cleanup()
