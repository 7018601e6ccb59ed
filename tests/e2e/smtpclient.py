"""A raw SMTP client for tests that need exact bytes on the wire."""
import socket
import ssl


class Raw:
    def __init__(self, port, host="127.0.0.1", timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; pending: %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self):
        """One whole (possibly multi-line) reply: (code, [lines])."""
        lines = [self._line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self._line())
        return int(lines[-1][:3]), lines

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def expect(self, code, line=None):
        if line is not None:
            self.send(line + "\r\n")
        got, lines = self.reply()
        assert got == code, f"expected {code}, got {lines} after {line!r}"
        return lines

    def starttls(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")

    def closed(self, timeout=5):
        """True if the server closes the connection (after any pending data)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    return True
                self.buf += d
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def open_tx(port, rcpt="alice@example.test", sender="a@example.org", helo="client.example.org",
            timeout=10):
    """Connect, greet, and open a transaction up to the accepted RCPT
    (rcpt=None stops after MAIL; sender=None after EHLO)."""
    c = Raw(port, timeout=timeout)
    c.expect(220)
    c.expect(250, f"EHLO {helo}")
    if sender is not None:
        c.expect(250, f"MAIL FROM:<{sender}>")
        if rcpt is not None:
            c.expect(250, f"RCPT TO:<{rcpt}>")
    return c
