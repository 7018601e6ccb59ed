"""IMAP FETCH (RFC 9051 6.4.5, RFC 3516 BINARY, RFC 7162 CONDSTORE/QRESYNC)
against messages whose every octet the test knows: sections, partials, \\Seen,
BINARY decoding, ENVELOPE and BODYSTRUCTURE, MODSEQ / CHANGEDSINCE /
VANISHED, a message delivered over SMTP, output larger than the server's
output buffer, and syntax errors. Expected values come from the message
bytes the test built (and Python's email package), never from the server."""
import base64
import email
import email.policy
import glob
import imaplib
import os
import re
import socket
import time

import pytest

from test_smtp import make, swaks

USER, PW = "alice@example.test", "pw-alice"
BOB, BOBPW = "bob@example.test", "pw-bob"
CRLF = b"\r\n"


# ---- a small IMAP client that reads literals, and a response parser ----

class Client:
    def __init__(self, y, user=USER, pw=PW):
        self.s = socket.create_connection(("127.0.0.1", y.ports["imap"]), timeout=20)
        self.buf = b""
        self.n = 0
        assert self.line().startswith(b"* OK")
        self.ok(f'LOGIN "{user}" "{pw}"')

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(1 << 20)
            if not d:
                raise EOFError(self.buf[:200])
            self.buf += d
        l, _, self.buf = self.buf.partition(b"\r\n")
        return l

    def exact(self, n):
        while len(self.buf) < n:
            d = self.s.recv(1 << 20)
            if not d:
                raise EOFError()
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self):
        """One response with its literals inlined (as sent)."""
        out = b""
        while True:
            l = self.line()
            out += l
            m = re.search(rb"~?\{(\d+)\}$", l)
            if not m:
                return out
            out += CRLF + self.exact(int(m.group(1)))

    def send(self, text):
        self.s.sendall(text if isinstance(text, bytes) else text.encode())

    def cmd(self, text):
        """(untagged responses, tagged line)"""
        self.n += 1
        tag = f"f{self.n}"
        self.send(f"{tag} {text}\r\n")
        out = []
        while True:
            r = self.response()
            if r.startswith(tag.encode() + b" "):
                return out, r
            out.append(r)

    def ok(self, text):
        out, tagged = self.cmd(text)
        assert tagged.split()[1] == b"OK", (text, tagged, out[-3:])
        return out

    def fetch(self, text):
        """FETCH responses as {seq: {ITEM: value}}, in order."""
        out = self.ok(text)
        return fetches(out)

    def close(self):
        self.s.close()


def tokenize(data):
    """IMAP tokens of one response: atoms (str; "[...]" kept inside an atom),
    quoted strings and literals (bytes), None for NIL, lists."""
    pos = 0
    stack = [[]]
    while pos < len(data):
        c = data[pos:pos + 1]
        if c == b" ":
            pos += 1
        elif c == b"(":
            stack.append([])
            pos += 1
        elif c == b")":
            done = stack.pop()
            stack[-1].append(done)
            pos += 1
        elif c == b'"':
            pos += 1
            s = b""
            while data[pos:pos + 1] != b'"':
                if data[pos:pos + 1] == b"\\":
                    pos += 1
                s += data[pos:pos + 1]
                pos += 1
            stack[-1].append(s)
            pos += 1
        elif c in (b"{", b"~"):
            m = re.match(rb"~?\{(\d+)\}\r\n", data[pos:])
            n = int(m.group(1))
            pos += m.end()
            stack[-1].append(data[pos:pos + n])
            pos += n
        else:
            start = pos
            depth = 0
            while pos < len(data):
                ch = data[pos:pos + 1]
                if ch == b"[":
                    depth += 1
                elif ch == b"]":
                    depth -= 1
                elif depth == 0 and ch in (b" ", b"(", b")"):
                    break
                pos += 1
            atom = data[start:pos].decode()
            stack[-1].append(None if atom.upper() == "NIL" else atom)
    assert len(stack) == 1, data[:200]
    return stack[0]


def fetches(lines):
    res = {}
    for l in lines:
        if not re.match(rb"\* \d+ FETCH ", l):
            continue
        t = tokenize(l)
        items = t[3]
        d = {}
        for i in range(0, len(items), 2):
            assert items[i] not in d, ("duplicate item", items[i])
            d[items[i]] = items[i + 1]
        assert int(t[1]) not in res
        res[int(t[1])] = d
    return res


def crlf(b):
    """LF -> CRLF for bare LFs, as IMAP shows a Maildir file."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", b)


# ---- the messages (every octet known) ----

ATTACHMENT = bytes(range(256)) * 3 + b"\x00end"
B64 = base64.encodebytes(ATTACHMENT).replace(b"\n", CRLF)

P1_HDR = (b"Content-Type: text/plain; charset=utf-8\r\n"
          b"Content-Transfer-Encoding: quoted-printable\r\n\r\n")
P1_BODY = b"Caf=C3=A9 au lait, soft=\r\n break\r\nline two=20\r\n"
P1_DECODED = "Café au lait, soft break\r\nline two \r\n".encode()
P2_HDR = (b"Content-Type: application/octet-stream; name=\"data.bin\"\r\n"
          b"Content-Disposition: attachment; filename=\"data.bin\"\r\n"
          b"Content-Transfer-Encoding: base64\r\n\r\n")
P2_BODY = B64.rstrip(CRLF)
INNER_HDR = (b"From: Inner Sender <inner@example.net>\r\n"
             b"To: someone@example.net\r\n"
             b"Subject: the embedded one\r\n"
             b"Date: Tue, 02 Jan 2024 10:00:00 +0000\r\n"
             b"MIME-Version: 1.0\r\n"
             b"Content-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n")
INNER_P1_HDR = b"Content-Type: text/plain\r\n\r\n"
INNER_P1_BODY = b"embedded plain text"
INNER_P2_HDR = b"Content-Type: text/html\r\n\r\n"
INNER_P2_BODY = b"<p>embedded html</p>"
INNER_BODY = (b"--inner\r\n" + INNER_P1_HDR + INNER_P1_BODY + b"\r\n--inner\r\n" + INNER_P2_HDR +
              INNER_P2_BODY + b"\r\n--inner--\r\n")
P3_HDR = b"Content-Type: message/rfc822\r\n\r\n"
P3_BODY = INNER_HDR + INNER_BODY
P4_HDR = b"Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n"
P41_HDR = b"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
P41_BODY = b"alternative plain\r\nsecond line"
P42_HDR = b"Content-Type: text/html; charset=us-ascii\r\n\r\n"
P42_BODY = b"<b>alternative html</b>"
P4_BODY = (b"--alt\r\n" + P41_HDR + P41_BODY + b"\r\n--alt\r\n" + P42_HDR + P42_BODY +
           b"\r\n--alt--\r\n")
P5_HDR = (b"Content-Type: application/octet-stream\r\n"
          b"Content-Transfer-Encoding: x-uuencode\r\n\r\n")
P5_BODY = b"begin 644 x\r\n#86)C\r\n`\r\nend"
MAIN_HDR = (b"From: \"Alice Example\" <alice@example.test>\r\n"
            b"To: Bob <bob@example.test>, carol@example.org\r\n"
            b"Cc: dave@example.org\r\n"
            b"Subject: multipart test\r\n"
            b"Date: Mon, 01 Jan 2024 12:34:56 +0100\r\n"
            b"Message-ID: <multi-1@example.test>\r\n"
            b"X-Folded: first\r\n second\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n")
MAIN_BODY = (b"preamble\r\n--outer\r\n" + P1_HDR + P1_BODY + b"\r\n--outer\r\n" + P2_HDR + P2_BODY +
             b"\r\n--outer\r\n" + P3_HDR + P3_BODY + b"\r\n--outer\r\n" + P4_HDR + P4_BODY +
             b"\r\n--outer\r\n" + P5_HDR + P5_BODY + b"\r\n--outer--\r\nepilogue\r\n")
MULTI = MAIN_HDR + MAIN_BODY

EIGHTBIT_HDR = ("From: Jörg Müller <joerg@example.de>\r\n"
                "To: alice@example.test\r\n"
                "Subject: Grüße aus Köln\r\n"
                "Date: Wed, 03 Jan 2024 08:00:00 +0000\r\n\r\n").encode()
EIGHTBIT = EIGHTBIT_HDR + "Körper\r\n".encode()

SIMPLE = (b"From: simple@example.org\r\nSubject: simple\r\n"
          b"Date: Thu, 04 Jan 2024 09:00:00 +0000\r\n\r\n0123456789abcdefghij\r\nline 2\r\n")

BIG_TEXT = b"".join(b"text line %05d\r\n" % i for i in range(6000))
BIG_B64 = base64.encodebytes(ATTACHMENT * 200).replace(b"\n", CRLF).rstrip(CRLF)
BIGMULTI = (b"Subject: big multipart\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
            b"--b\r\nContent-Type: text/plain\r\n\r\n" + BIG_TEXT + b"\r\n"
            b"--b\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + BIG_B64 + b"\r\n--b--\r\n")

APPEND_DATE = (2024, 2, 1, 12, 0, 0, 0, 0, -1)


@pytest.fixture(scope="module")
def srv():
    y = make("plain")
    m = imaplib.IMAP4("127.0.0.1", y.ports["imap"], timeout=20)
    m.login(USER, PW)
    date = imaplib.Time2Internaldate(time.mktime(APPEND_DATE))
    for msg in (MULTI, EIGHTBIT, SIMPLE):
        typ, data = m.append("INBOX", None, date, msg)
        assert typ == "OK", data
    m.logout()
    yield y
    y.stop()
    y.cleanup()


def fetch_one(c, seq, items):
    res = c.fetch(f"FETCH {seq} {items}")
    assert list(res) == [seq], res
    return res[seq]


# ---- tests ----

def test_simple_items_and_macros(srv):
    c = Client(srv)
    c.ok("EXAMINE INBOX")
    r = fetch_one(c, 1, "(UID FLAGS INTERNALDATE RFC822.SIZE)")
    assert r["UID"] == "1" and [f for f in r["FLAGS"] if f != "\\Recent"] == []
    assert r["RFC822.SIZE"] == str(len(MULTI))
    # RFC 9051 date-time, and the date APPEND gave
    assert re.fullmatch(rb"\d\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d [+-]\d{4}", r["INTERNALDATE"])
    assert time.mktime(imaplib.Internaldate2tuple(b'INTERNALDATE "' + r["INTERNALDATE"] + b'"')) \
        == time.mktime(APPEND_DATE)
    for seq, raw in ((2, EIGHTBIT), (3, SIMPLE)):
        assert fetch_one(c, seq, "RFC822.SIZE")["RFC822.SIZE"] == str(len(raw))
    assert set(fetch_one(c, 1, "FAST")) == {"FLAGS", "INTERNALDATE", "RFC822.SIZE"}
    assert set(fetch_one(c, 1, "all")) == {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"}
    assert set(fetch_one(c, 1, "FULL")) == {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE",
                                            "BODY"}
    assert fetch_one(c, 3, "UID") == {"UID": "3"}
    # UID FETCH always carries the UID; unknown UIDs are no error
    res = c.fetch("UID FETCH 2:3 FLAGS")
    assert {k: v["UID"] for k, v in res.items()} == {2: "2", 3: "3"}
    assert c.fetch("UID FETCH 500:600 FLAGS") == {}
    c.close()


def test_envelope(srv):
    c = Client(srv)
    c.ok("EXAMINE INBOX")
    env = fetch_one(c, 1, "ENVELOPE")["ENVELOPE"]
    parsed = email.message_from_bytes(MULTI, policy=email.policy.compat32)
    assert env[0] == parsed["Date"].encode()
    assert env[1] == parsed["Subject"].encode()
    assert env[2] == [[b"Alice Example", None, b"alice", b"example.test"]]
    assert env[3] == env[2] and env[4] == env[2]     # Sender, Reply-To default to From
    assert env[5] == [[b"Bob", None, b"bob", b"example.test"], [None, None, b"carol", b"example.org"]]
    assert env[6] == [[None, None, b"dave", b"example.org"]]
    assert env[7] is None and env[8] is None
    assert env[9] == parsed["Message-ID"].encode()
    # a second FETCH (from the cache) gives the same
    assert fetch_one(c, 1, "ENVELOPE")["ENVELOPE"] == env
    # 8-bit header octets are kept (sent as literals)
    env = fetch_one(c, 2, "ENVELOPE")["ENVELOPE"]
    assert env[1] == "Grüße aus Köln".encode()
    assert env[2] == [["Jörg Müller".encode(), None, b"joerg", b"example.de"]]
    c.close()


def test_body_sections(srv):
    c = Client(srv)
    c.ok("EXAMINE INBOX")
    sections = {
        "BODY[]": MULTI,
        "BODY[HEADER]": MAIN_HDR,
        "BODY[TEXT]": MAIN_BODY,
        "BODY[1]": P1_BODY,
        "BODY[1.MIME]": P1_HDR,
        "BODY[2]": P2_BODY,
        "BODY[3]": P3_BODY,
        "BODY[3.HEADER]": INNER_HDR,
        "BODY[3.TEXT]": INNER_BODY,
        "BODY[3.MIME]": P3_HDR,
        "BODY[3.1]": INNER_P1_BODY,
        "BODY[3.2]": INNER_P2_BODY,
        "BODY[3.2.MIME]": INNER_P2_HDR,
        "BODY[4]": P4_BODY,
        "BODY[4.1]": P41_BODY,
        "BODY[4.2]": P42_BODY,
        "BODY[4.2.MIME]": P42_HDR,
        "BODY[5]": P5_BODY,
    }
    items = " ".join(k.replace("BODY[", "BODY.PEEK[") for k in sections)
    r = fetch_one(c, 1, f"({items})")
    for k, v in sections.items():
        assert r[k] == v, k
    # cross-check with Python's email package
    parsed = email.message_from_bytes(MULTI)
    parts = parsed.get_payload()
    assert parts[1].get_payload(decode=True) == ATTACHMENT
    assert parts[0].get_payload(decode=True) == P1_DECODED.replace(b"\r\n", b"\n") or \
        parts[0].get_payload(decode=True) == P1_DECODED
    # parts that do not exist are NIL
    r = fetch_one(c, 1, "(BODY.PEEK[9] BODY.PEEK[4.3] BODY.PEEK[1.2.3])")
    assert r == {"BODY[9]": None, "BODY[4.3]": None, "BODY[1.2.3]": None}
    # a single-part message has part 1: its body
    r = fetch_one(c, 3, "(BODY.PEEK[1] BODY.PEEK[TEXT])")
    text = SIMPLE.split(b"\r\n\r\n", 1)[1]
    assert r == {"BODY[1]": text, "BODY[TEXT]": text}
    # RFC822.HEADER does not set \Seen (EXAMINE anyway)
    r = fetch_one(c, 3, "RFC822.HEADER")
    assert r == {"RFC822.HEADER": SIMPLE.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"}
    c.close()


def test_header_fields(srv):
    c = Client(srv)
    c.ok("EXAMINE INBOX")
    lines = re.findall(rb"[^\r\n]+\r\n(?:[ \t][^\r\n]*\r\n)*", MAIN_HDR)

    def pick(names, not_=False):
        keep = [l for l in lines if (l.split(b":")[0].lower() in names) != not_]
        return b"".join(keep) + CRLF

    r = fetch_one(c, 1, "(BODY.PEEK[HEADER.FIELDS (From to)] "
                        "BODY.PEEK[HEADER.FIELDS.NOT (Subject \"X-Folded\" Content-Type)] "
                        "BODY.PEEK[HEADER.FIELDS (x-folded nonexistent)] "
                        "BODY.PEEK[3.HEADER.FIELDS (SUBJECT)])")
    assert r["BODY[HEADER.FIELDS (FROM TO)]"] == pick([b"from", b"to"])
    assert r["BODY[HEADER.FIELDS.NOT (SUBJECT X-FOLDED CONTENT-TYPE)]"] == \
        pick([b"subject", b"x-folded", b"content-type"], True)
    assert r["BODY[HEADER.FIELDS (X-FOLDED NONEXISTENT)]"] == b"X-Folded: first\r\n second\r\n\r\n"
    assert r["BODY[3.HEADER.FIELDS (SUBJECT)]"] == b"Subject: the embedded one\r\n\r\n"
    # 8-bit field bodies come back as they are
    r = fetch_one(c, 2, "BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
    assert r == {"BODY[HEADER.FIELDS (SUBJECT)]": "Subject: Grüße aus Köln\r\n\r\n".encode()}
    c.close()


def test_partial(srv):
    c = Client(srv)
    c.ok("EXAMINE INBOX")
    n = len(SIMPLE)
    r = fetch_one(c, 3, f"(BODY.PEEK[]<0.10> BODY.PEEK[TEXT]<5.3> BODY.PEEK[HEADER]<{n}.10>)")
    assert r["BODY[]<0>"] == SIMPLE[:10]
    text = SIMPLE.split(b"\r\n\r\n", 1)[1]
    assert r["BODY[TEXT]<5>"] == text[5:8]
    hdr = SIMPLE.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    assert r[f"BODY[HEADER]<{n}>"] == b""           # beyond the end: empty string
    r = fetch_one(c, 3, f"BODY.PEEK[]<{n - 4}.100>")   # cut at the end
    assert r == {f"BODY[]<{n - 4}>": SIMPLE[-4:]}
    r = fetch_one(c, 3, f"BODY.PEEK[]<{n}.1>")
    assert r == {f"BODY[]<{n}>": b""}
    r = fetch_one(c, 3, f"BODY.PEEK[HEADER]<{len(hdr) - 2}.9999999999>")
    assert r == {f"BODY[HEADER]<{len(hdr) - 2}>": b"\r\n"}
    r = fetch_one(c, 1, "BINARY.PEEK[2]<256.4>")
    assert r == {"BINARY[2]<256>": ATTACHMENT[256:260]}
    r = fetch_one(c, 1, "BODY.PEEK[3.1]<9.5>")
    assert r == {"BODY[3.1]<9>": INNER_P1_BODY[9:14]}
    c.close()


def test_binary(srv):
    c = Client(srv)
    c.ok("EXAMINE INBOX")
    c.send(b"b1 FETCH 1 (BINARY.PEEK[2] BINARY.PEEK[1] BINARY.SIZE[2] BINARY.SIZE[1] "
           b"BINARY.PEEK[3.1] BINARY.SIZE[4.2] BINARY.PEEK[9])\r\n")
    raw = c.response()
    assert c.response().startswith(b"b1 OK")
    # the attachment holds NUL: RFC 3516 literal8
    assert b"BINARY[2] ~{%d}\r\n" % len(ATTACHMENT) in raw
    r = fetches([raw])[1]
    assert r["BINARY[2]"] == ATTACHMENT
    assert r["BINARY[1]"] == P1_DECODED
    assert r["BINARY.SIZE[2]"] == str(len(ATTACHMENT))
    assert r["BINARY.SIZE[1]"] == str(len(P1_DECODED))
    assert r["BINARY[3.1]"] == INNER_P1_BODY
    assert r["BINARY.SIZE[4.2]"] == str(len(P42_BODY))
    assert r["BINARY[9]"] is None
    # an encoding nobody can undo: NO [UNKNOWN-CTE] (RFC 3516 4.3)
    for item in ("BINARY.PEEK[5]", "BINARY.SIZE[5]"):
        out, tagged = c.cmd(f"FETCH 1 {item}")
        assert re.match(rb"f\d+ NO \[UNKNOWN-CTE\]", tagged), tagged
        assert out == []
    # the BODY form of the same part is fine
    assert fetch_one(c, 1, "BODY.PEEK[5]") == {"BODY[5]": P5_BODY}
    c.close()


def test_bodystructure(srv):
    c = Client(srv)
    c.ok("EXAMINE INBOX")
    r = fetch_one(c, 1, "(BODYSTRUCTURE BODY)")
    bs, body = r["BODYSTRUCTURE"], r["BODY"]
    # multipart/mixed with five parts, then the subtype and extension data
    assert [type(p) for p in bs[:5]] == [list] * 5 and bs[5].upper() == b"MIXED"
    assert [b.upper() if isinstance(b, bytes) else b for b in bs[6]] == [b"BOUNDARY", b"OUTER"]
    p1, p2, p3, p4, p5 = bs[:5]
    assert [p1[0].upper(), p1[1].upper()] == [b"TEXT", b"PLAIN"]
    assert p1[5].upper() == b"QUOTED-PRINTABLE"
    assert p1[6] == str(len(P1_BODY)) and p1[7] == str(P1_BODY.count(b"\n"))
    assert [p2[0].upper(), p2[1].upper(), p2[5].upper()] == [b"APPLICATION", b"OCTET-STREAM",
                                                             b"BASE64"]
    assert p2[6] == str(len(P2_BODY))
    assert p2[8][0].upper() == b"ATTACHMENT"
    # message/rfc822: envelope, body structure and lines of the embedded one
    assert [p3[0].upper(), p3[1].upper()] == [b"MESSAGE", b"RFC822"]
    assert p3[6] == str(len(P3_BODY))
    assert p3[7][1] == b"the embedded one"
    assert p3[8][2].upper() == b"ALTERNATIVE"
    assert p3[9] == str(P3_BODY.count(b"\n"))
    assert p4[2].upper() == b"ALTERNATIVE"
    assert p4[0][6] == str(len(P41_BODY)) and p4[1][6] == str(len(P42_BODY))
    assert p5[5].upper() == b"X-UUENCODE"
    # BODY is the same without extension data
    assert body[5].upper() == b"MIXED" and len(body) == 6
    assert body[1][:7] == p2[:7]
    # a single-part message
    r = fetch_one(c, 3, "BODYSTRUCTURE")["BODYSTRUCTURE"]
    text = SIMPLE.split(b"\r\n\r\n", 1)[1]
    assert [r[0].upper(), r[1].upper()] == [b"TEXT", b"PLAIN"]
    assert r[6] == str(len(text)) and r[7] == str(text.count(b"\n"))
    # from the cache the second time: identical
    assert fetch_one(c, 1, "BODYSTRUCTURE")["BODYSTRUCTURE"] == bs
    c.close()


def flags_of(c, seq):
    return fetch_one(c, seq, "FLAGS")["FLAGS"]


def test_seen(srv):
    y = srv
    m = imaplib.IMAP4("127.0.0.1", y.ports["imap"], timeout=20)
    m.login(BOB, BOBPW)
    for i in range(5):
        assert m.append("INBOX", None, None, SIMPLE.replace(b"simple", b"seen%d" % i))[0] == "OK"
    m.logout()
    c = Client(y, BOB, BOBPW)
    c.ok("SELECT INBOX")
    # PEEK forms and RFC822.HEADER leave \Seen alone
    r = fetch_one(c, 1, "(BODY.PEEK[] BINARY.PEEK[1] RFC822.HEADER BODY.PEEK[TEXT])")
    assert "FLAGS" not in r
    assert "\\Seen" not in flags_of(c, 1)
    # EXAMINE: nothing changes even without PEEK
    c.ok("EXAMINE INBOX")
    r = fetch_one(c, 1, "BODY[]")
    assert "FLAGS" not in r
    c.ok("SELECT INBOX")
    assert "\\Seen" not in flags_of(c, 1)
    # each non-PEEK form sets \Seen and reports the new FLAGS with it
    for seq, item, key in ((1, "BODY[]", "BODY[]"), (2, "RFC822", "RFC822"),
                           (3, "RFC822.TEXT", "RFC822.TEXT"), (4, "BINARY[1]", "BINARY[1]"),
                           (5, "BODY[HEADER]<0.5>", "BODY[HEADER]<0>")):
        r = fetch_one(c, seq, item)
        assert key in r
        assert "\\Seen" in r["FLAGS"], (item, r)
        # once set, it is not reported again
        r = fetch_one(c, seq, item)
        assert "FLAGS" not in r
    # survives a new session (committed)
    c.close()
    c = Client(y, BOB, BOBPW)
    c.ok("EXAMINE INBOX")
    assert all("\\Seen" in flags_of(c, s) for s in range(1, 6))
    c.close()


def test_condstore_and_vanished(srv):
    y = srv
    c = Client(y)
    out = c.ok("SELECT INBOX")
    # MODSEQ turns CONDSTORE on (RFC 7162 3.1): HIGHESTMODSEQ comes first
    out = c.ok("FETCH 1 (MODSEQ)")
    assert any(re.match(rb"\* OK \[HIGHESTMODSEQ \d+\]", l) for l in out), out
    r = fetches(out)[1]
    m1 = int(r["MODSEQ"][0])
    # ... and from then on every FETCH carries it
    r = fetch_one(c, 2, "FLAGS")
    m2 = int(r["MODSEQ"][0])
    highest = max(m1, m2, int(fetch_one(c, 3, "UID")["MODSEQ"][0]))
    # CHANGEDSINCE: only what changed after
    assert c.fetch(f"FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})") == {}
    c.ok("STORE 2 +FLAGS.SILENT (\\Flagged)")
    res = c.fetch(f"FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})")
    assert list(res) == [2] and "\\Flagged" in res[2]["FLAGS"]
    assert int(res[2]["MODSEQ"][0]) > highest
    all_ = c.fetch("FETCH 1:* (UID) (CHANGEDSINCE 0)")
    assert list(all_) == [1, 2, 3]
    # VANISHED needs UID FETCH and QRESYNC
    _, tagged = c.cmd(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {highest} VANISHED)")
    assert tagged.split()[1] == b"BAD"
    c.ok("ENABLE QRESYNC")
    _, tagged = c.cmd(f"FETCH 1:* (FLAGS) (CHANGEDSINCE {highest} VANISHED)")
    assert tagged.split()[1] == b"BAD"
    # expunge a fresh message, then ask what vanished since before it
    m = imaplib.IMAP4("127.0.0.1", y.ports["imap"], timeout=20)
    m.login(USER, PW)
    typ, data = m.append("INBOX", None, None, SIMPLE.replace(b"simple", b"doomed"))
    uid = int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))
    m.logout()
    out = c.ok("NOOP")
    before = max(int(v["MODSEQ"][0]) for v in fetches(c.ok("FETCH 1:* (UID)")).values())
    out = c.ok(f"UID STORE {uid} +FLAGS.SILENT (\\Deleted)")
    c.ok("EXPUNGE")
    out = c.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {before} VANISHED)")
    assert f"* VANISHED (EARLIER) {uid}".encode() in out, out
    assert out[0] == f"* VANISHED (EARLIER) {uid}".encode()
    # outside the UID set: not reported
    out = c.ok(f"UID FETCH 1:{uid - 1} (FLAGS) (CHANGEDSINCE {before} VANISHED)")
    assert not any(l.startswith(b"* VANISHED") for l in out), out
    c.close()


def test_expunged_by_another_session(srv):
    y = srv
    m = imaplib.IMAP4("127.0.0.1", y.ports["imap"], timeout=20)
    m.login(USER, PW)
    m.create("Gone")
    for i in range(3):
        assert m.append("Gone", None, None, SIMPLE.replace(b"simple", b"gone%d" % i))[0] == "OK"
    a, b = Client(y), Client(y)
    a.ok("SELECT Gone")
    b.ok("SELECT Gone")
    b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    # a has not synced: message 2 is skipped, the others come
    out, tagged = a.cmd("FETCH 1:3 (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    res = fetches(out)
    assert sorted(res) == [1, 3]
    assert res[3]["BODY[HEADER.FIELDS (SUBJECT)]"] == b"Subject: gone2\r\n\r\n"
    assert re.match(rb"f\d+ NO \[EXPUNGEISSUED\]", tagged), tagged
    # by UID: those UIDs simply do not exist; the expunge is reported now
    out, tagged = a.cmd("UID FETCH 1:3 (FLAGS)")
    assert tagged.split()[1] == b"OK"
    assert b"* 2 EXPUNGE" in out
    assert sorted(fetches(out)) == [1, 3]
    a.close()
    b.close()
    m.logout()


def test_smtp_delivered_message(srv):
    """A message delivered over SMTP is stored with LF line ends: IMAP shows it
    with CRLF, and its sizes count CRLF."""
    y = srv
    body = "line one\nline two with ünïcode\n\n-- \nsig\n"
    before = len(y.messages(BOB))
    r = swaks(y, "--from", "s@example.org", "--to", BOB, "--header", "Subject: via smtp",
              "--header", "X-Eight: Grüße", "--body", body)
    assert r.returncode == 0, r.stdout + r.stderr
    y.wait_messages(BOB, before + 1)
    # a listing of new/ and cur/ can race with a move between them: look
    # until the file is seen once
    for _ in range(50):
        files = []
        for f in glob.glob(os.path.join(y.maildir(BOB), "*", "*")):
            try:
                if b"Subject: via smtp" in open(f, "rb").read():
                    files.append(f)
            except FileNotFoundError:
                pass
        if len(files) == 1:
            break
        time.sleep(0.1)
    assert len(files) == 1, files
    raw = open(files[0], "rb").read()
    assert b"\r\n" not in raw
    want = crlf(raw)
    c = Client(y, BOB, BOBPW)
    out = c.ok("EXAMINE INBOX")
    n = [int(l.split()[1]) for l in out if l.endswith(b" EXISTS")][0]
    r = fetch_one(c, n, "(RFC822.SIZE BODY.PEEK[] BODY.PEEK[HEADER] BODY.PEEK[TEXT] "
                        "BODY.PEEK[HEADER.FIELDS (X-EIGHT)] BODY.PEEK[]<3.20> "
                        "BODY.PEEK[TEXT]<1.8> ENVELOPE BINARY.SIZE[1])")
    assert r["RFC822.SIZE"] == str(len(want))
    assert r["BODY[]"] == want
    hdr, text = want.split(b"\r\n\r\n", 1)
    assert r["BODY[HEADER]"] == hdr + b"\r\n\r\n"
    assert r["BODY[TEXT]"] == text
    assert r["BODY[HEADER.FIELDS (X-EIGHT)]"].startswith(b"X-Eight: ")
    assert r["BODY[]<3>"] == want[3:23]
    assert r["BODY[TEXT]<1>"] == text[1:9]
    assert r["ENVELOPE"][1] == b"via smtp"
    assert r["BINARY.SIZE[1]"] == str(len(text))
    c.close()


def test_smtp_delivered_multipart(srv):
    """The multipart message over SMTP: stored with LF line ends, behind the
    header fields the server adds; every part must come back as built."""
    y = srv
    path = os.path.join(y.dir, "multi.eml")
    with open(path, "wb") as f:
        f.write(MULTI.replace(b"Subject: multipart test", b"Subject: multipart via smtp"))
    before = len(y.messages(BOB))
    r = swaks(y, "--from", "s@example.org", "--to", BOB, "--data", path)
    assert r.returncode == 0, r.stdout + r.stderr
    y.wait_messages(BOB, before + 1)
    (raw,) = [m for m in y.messages(BOB) if b"multipart via smtp" in m]
    assert b"\r\n" not in raw
    c = Client(y, BOB, BOBPW)
    out = c.ok("EXAMINE INBOX")
    n = [int(l.split()[1]) for l in out if l.endswith(b" EXISTS")][0]
    r = fetch_one(c, n, "(RFC822.SIZE BODY.PEEK[] BODY.PEEK[1] BODY.PEEK[1.MIME] BODY.PEEK[2] "
                        "BODY.PEEK[3.HEADER] BODY.PEEK[3.1] BODY.PEEK[4.2] BINARY.PEEK[1] "
                        "BINARY.PEEK[2] BINARY.SIZE[2] BODY.PEEK[3.TEXT]<7.20> BODYSTRUCTURE)")
    want = crlf(raw)
    assert r["RFC822.SIZE"] == str(len(want)) and r["BODY[]"] == want
    assert MAIN_BODY in want     # swaks may add a line end
    assert r["BODY[1]"] == P1_BODY and r["BODY[1.MIME]"] == P1_HDR and r["BODY[2]"] == P2_BODY
    assert r["BODY[3.HEADER]"] == INNER_HDR and r["BODY[3.1]"] == INNER_P1_BODY
    assert r["BODY[4.2]"] == P42_BODY
    assert r["BINARY[1]"] == P1_DECODED and r["BINARY[2]"] == ATTACHMENT
    assert r["BINARY.SIZE[2]"] == str(len(ATTACHMENT))
    assert r["BODY[3.TEXT]<7>"] == INNER_BODY[7:27]
    assert r["BODYSTRUCTURE"][1][6] == str(len(P2_BODY))
    c.close()


def test_large_output_pauses_and_resumes(srv):
    """More than the server buffers for a client (256 KiB): the command
    pauses and goes on as the client reads, and every octet is right."""
    y = srv
    m = imaplib.IMAP4("127.0.0.1", y.ports["imap"], timeout=20)
    m.login(USER, PW)
    m.create("Big")
    msgs = []
    for i in range(12):
        line = (b"%04d " % i) + b"x" * 70 + CRLF
        msg = b"Subject: big %d\r\n\r\n" % i + line * (1500 + 100 * i)
        msgs.append(msg)
        assert m.append("Big", None, None, msg)[0] == "OK"
    huge = b"Subject: huge\r\n\r\n" + (b"y" * 998 + CRLF) * 3000
    msgs.append(huge)
    assert m.append("Big", None, None, huge)[0] == "OK"
    m.logout()
    c = Client(y)
    c.ok("EXAMINE Big")
    c.send(b"big FETCH 1:* (BODY.PEEK[] RFC822.SIZE)\r\n")
    time.sleep(1)   # let the server fill its buffer and pause
    res = {}
    while True:
        r = c.response()
        if r.startswith(b"big "):
            assert r.startswith(b"big OK"), r
            break
        res.update(fetches([r]))
    assert sorted(res) == list(range(1, len(msgs) + 1))
    for i, msg in enumerate(msgs):
        assert res[i + 1]["BODY[]"] == msg, i
        assert res[i + 1]["RFC822.SIZE"] == str(len(msg))
    # the end of the huge one by partial fetch
    r = fetch_one(c, len(msgs), f"BODY.PEEK[]<{len(huge) - 1000}.5000>")
    assert r[f"BODY[]<{len(huge) - 1000}>"] == huge[-1000:]
    c.close()


def test_syntax_errors(srv):
    c = Client(srv)
    _, tagged = c.cmd("FETCH 1 FLAGS")
    assert tagged.split()[1] == b"BAD"               # no mailbox selected
    c.ok("EXAMINE INBOX")
    bad = [
        "FETCH", "FETCH 1", "FETCH 0 FLAGS", "FETCH abc FLAGS", "FETCH 1:x FLAGS",
        "FETCH 999 FLAGS", "FETCH 1, FLAGS", "FETCH 1 BOGUS", "FETCH 1 (FLAGS BOGUS)",
        "FETCH 1 ()", "FETCH 1 (ALL)", "FETCH 1 BODY[HEADER.FIELDS]", "FETCH 1 BODY[MIME]",
        "FETCH 1 BODY[0]", "FETCH 1 BODY[1.]", "FETCH 1 BODY[]<0.0>", "FETCH 1 BODY[]<x.1>",
        "FETCH 1 BINARY[HEADER]", "FETCH 1 BINARY.SIZE[1]<0.1>", "FETCH 1 BODY.PEEK",
        "FETCH 1 \"FLAGS\"", "FETCH 1 FLAGS (BOGUS)", "FETCH 1 FLAGS (CHANGEDSINCE x)",
        "FETCH 1 FLAGS (VANISHED)", "FETCH 1 FLAGS ()", "FETCH 1 FLAGS (CHANGEDSINCE 1) x",
    ]
    for cmd in bad:
        out, tagged = c.cmd(cmd)
        assert tagged.split()[1] == b"BAD", (cmd, tagged)
        assert not any(re.match(rb"\* \d+ FETCH", l) for l in out), (cmd, out)
        c.ok("NOOP")    # BADs in a row end the session
    # the session is still fine
    assert fetch_one(c, 1, "UID") == {"UID": "1"}
    c.close()


def test_asan_fetch_everything():
    """One pass over every kind of item under ASan and UBSan."""
    y = make("asan")
    try:
        m = imaplib.IMAP4("127.0.0.1", y.ports["imap"], timeout=30)
        m.login(USER, PW)
        for msg in (MULTI, EIGHTBIT, SIMPLE, BIGMULTI):
            assert m.append("INBOX", None, None, msg)[0] == "OK"
        m.logout()
        c = Client(y)
        c.ok("SELECT INBOX")
        # a message larger than one read: the header is read first, then the
        # rest, and the header is used again after that
        r = fetch_one(c, 4, "(BODY.PEEK[HEADER.FIELDS (X-NONE)] BODY.PEEK[1] "
                            "BODY.PEEK[HEADER.FIELDS (SUBJECT)] ENVELOPE BODY.PEEK[HEADER] "
                            "BODY.PEEK[2])")
        assert r["BODY[HEADER.FIELDS (X-NONE)]"] == b"\r\n"
        assert r["ENVELOPE"][1] == b"big multipart"
        assert r["BODY[1]"] == BIG_TEXT and r["BODY[2]"] == BIG_B64
        assert r["BODY[HEADER.FIELDS (SUBJECT)]"] == b"Subject: big multipart\r\n\r\n"
        r = fetch_one(c, 4, "(BINARY.PEEK[2] BINARY.SIZE[2])")
        assert r["BINARY[2]"] == ATTACHMENT * 200
        assert r["BINARY.SIZE[2]"] == str(len(ATTACHMENT) * 200)
        res = c.fetch("FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE "
                      "MODSEQ BODY[] BODY.PEEK[HEADER] BODY.PEEK[TEXT]<3.50> "
                      "BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)] BODY.PEEK[HEADER.FIELDS.NOT (TO)] "
                      "BODY.PEEK[1] BODY.PEEK[1.MIME] BODY.PEEK[3.HEADER] BODY.PEEK[3.TEXT] "
                      "BODY.PEEK[3.2] BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[2]<100.100> "
                      "RFC822.HEADER)")
        assert sorted(res) == [1, 2, 3, 4]
        assert res[1]["BODY[]"] == MULTI and res[2]["BODY[]"] == EIGHTBIT
        assert res[1]["BINARY[2]<100>"] == ATTACHMENT[100:200]
        assert res[3]["BODY[3.2]"] is None
        assert "\\Seen" in res[1]["FLAGS"]
        out, tagged = c.cmd("FETCH 1 BINARY[5]")
        assert b"UNKNOWN-CTE" in tagged
        c.close()
        assert "AddressSanitizer" not in y.read_log() and "runtime error" not in y.read_log()
    finally:
        y.stop()
        y.cleanup()
