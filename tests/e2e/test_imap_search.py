"""IMAP SEARCH, SORT and THREAD (RFC 9051 6.4.4, RFC 4731 ESEARCH, RFC 5182
SEARCHRES, RFC 7162 MODSEQ, RFC 5256 SORT/THREAD, RFC 5957 DISPLAYFROM)
with python imaplib and a raw socket client, against five messages whose
headers, bodies, flags and dates the test sets: every search key, NOT/OR
nesting, UID forms, charsets (ISO-8859-1 search strings, RFC 2047 encoded
words, base64 and quoted-printable bodies), ESEARCH return options, $,
sort criteria, both thread algorithms on a reply chain, and errors. The
expected answers are written down from the messages the test built."""
import base64
import glob
import imaplib
import os
import re
import socket
import stat
import time

import pytest

from test_smtp import make

USER, PW = "alice@example.test", "pw-alice"


def idate(y, mo, d):
    return imaplib.Time2Internaldate(time.mktime((y, mo, d, 12, 0, 0, 0, 0, -1)))


def crlf(s):
    return s.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


M1 = crlf(b"""From: Alice Smith <alice@example.org>
To: bob@example.test
Cc: Carol <carol@example.org>
Subject: Quarterly report
Date: Mon, 15 Jan 2024 10:00:00 +0000
Message-ID: <m1@example.org>

The revenue numbers are attached.
""")

M2 = crlf(b"""From: Yannick <bob@example.test>
To: alice@example.org
Subject: Re: Quarterly report
Date: Sat, 20 Jan 2024 10:00:00 +0000
Message-ID: <m2@example.org>
In-Reply-To: <m1@example.org>
References: <m1@example.org>

Thanks, looks good.
""")

M3 = crlf(b"""From: =?ISO-8859-1?Q?Ren=E9?= <rene@example.fr>
To: carol@example.org
Bcc: hidden@example.org
Subject: =?UTF-8?B?""" + base64.b64encode("Café crème".encode()) + b"""?=
Date: Thu, 01 Feb 2024 23:30:00 -0500
Message-ID: <m3@example.org>
In-Reply-To: <m2@example.org>
References: <m1@example.org>
 <m2@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=ISO-8859-1
Content-Transfer-Encoding: base64

""" + base64.encodebytes("Résumé naïve façade\r\n".encode("latin-1")))

M4 = crlf(b"""From: Dave <dave@example.org>
To: eve@example.org
Subject: Fwd: Quarterly report
X-Custom: hello-header
Message-ID: <m4@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

preamble
--b1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Forwarded: caf=C3=A9 unique-qp-word=
split
--b1
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

""" + base64.encodebytes(b"secretattachmentword") + b"""--b1--
""")

M5 = crlf(b"""From: Zed <zed@example.org>
To: Aaron <aaron@example.org>
Subject: Zebra
Date: Mon, 01 Jan 2024 08:00:00 +0000
Message-ID: <m5@example.org>

""" + b"stripes\n" * 500)

# (message, flags, internal date)
MSGS = [
    (M1, r"(\Seen)", idate(2024, 1, 15)),
    (M2, r"(\Answered \Flagged $Work)", idate(2024, 1, 20)),
    (M3, r"(\Draft)", idate(2024, 2, 1)),
    (M4, r"(\Deleted)", idate(2024, 2, 10)),
    (M5, None, idate(2024, 3, 1)),
]
SIZES = [len(m) for m, _, _ in MSGS]


def login(y):
    m = imaplib.IMAP4("127.0.0.1", y.ports["imap"], timeout=20)
    m.login(USER, PW)
    return m


def fill(m, box="INBOX"):
    # one message expunged first, so UIDs are sequence numbers + 1
    assert m.append(box, None, None, crlf(b"Subject: gone\n\nx\n"))[0] == "OK"
    assert m.select(box)[0] == "OK"
    assert m.store("1", "+FLAGS", r"(\Deleted)")[0] == "OK"
    assert m.expunge()[0] == "OK"
    m.close()
    for msg, flags, date in MSGS:
        typ, data = m.append(box, flags, date, msg)
        assert typ == "OK", data


@pytest.fixture(scope="module")
def srv():
    y = make("plain")
    m = login(y)
    fill(m)
    m.logout()
    yield y
    y.stop()
    y.cleanup()


@pytest.fixture
def imap(srv):
    m = login(srv)
    assert m.select("INBOX", readonly=True)[0] == "OK"
    yield m
    m.logout()


def numbers(data):
    """The numbers of a SEARCH response, without "(MODSEQ n)"."""
    return [int(x) for x in re.sub(rb" ?\(MODSEQ \d+\)$", b"", data[0]).split()]


def search(m, *criteria, charset=None):
    typ, data = m.search(charset, *criteria)
    assert typ == "OK", data
    return numbers(data)


def uid_search(m, *criteria):
    typ, data = m.uid("SEARCH", *criteria)
    assert typ == "OK", data
    return [int(x) for x in data[0].split()]


def literal_search(m, charset, key, value):
    """SEARCH CHARSET x key {n} with the 8-bit value as a literal."""
    m.literal = value
    return search(m, key, charset=charset)


class Raw:
    """A line client: untagged lines and the tagged line of each command."""

    def __init__(self, y):
        self.s = socket.create_connection(("127.0.0.1", y.ports["imap"]), timeout=20)
        self.buf = b""
        self.n = 0
        assert self.line().startswith(b"* OK")
        self.ok(f'LOGIN "{USER}" "{PW}"')

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError(self.buf)
            self.buf += d
        l, _, self.buf = self.buf.partition(b"\r\n")
        return l

    def cmd(self, text):
        self.n += 1
        tag = f"s{self.n}"
        self.s.sendall(f"{tag} {text}\r\n".encode())
        out = []
        while True:
            l = self.line()
            if l.startswith(tag.encode() + b" "):
                return tag, out, l
            out.append(l)

    def ok(self, text):
        tag, out, tagged = self.cmd(text)
        assert tagged.split()[1] == b"OK", (text, tagged)
        return out

    def untagged(self, text, kind):
        """The one untagged response of this kind, after the kind word."""
        out = self.ok(text)
        found = [l for l in out if l.startswith(b"* " + kind)]
        assert len(found) == 1, (text, out)
        return found[0][len(b"* ") + len(kind):].decode()

    def close(self):
        self.s.close()


@pytest.fixture
def raw(srv):
    r = Raw(srv)
    r.ok("EXAMINE INBOX")
    yield r
    r.close()


# ---- keys ----

def test_flag_keys(imap):
    assert search(imap, "ALL") == [1, 2, 3, 4, 5]
    assert search(imap, "SEEN") == [1]
    assert search(imap, "UNSEEN") == [2, 3, 4, 5]
    assert search(imap, "ANSWERED") == [2]
    assert search(imap, "UNANSWERED") == [1, 3, 4, 5]
    assert search(imap, "FLAGGED") == [2]
    assert search(imap, "UNFLAGGED") == [1, 3, 4, 5]
    assert search(imap, "DRAFT") == [3]
    assert search(imap, "UNDRAFT") == [1, 2, 4, 5]
    assert search(imap, "DELETED") == [4]
    assert search(imap, "UNDELETED") == [1, 2, 3, 5]
    assert search(imap, "KEYWORD", "$Work") == [2]
    assert search(imap, "keyword", "$work") == [2]
    assert search(imap, "UNKEYWORD", "$Work") == [1, 3, 4, 5]
    assert search(imap, "KEYWORD", "nosuch") == []
    assert search(imap, "UNKEYWORD", "nosuch") == [1, 2, 3, 4, 5]


def test_recent_new_old(srv):
    a = login(srv)
    assert a.create("Fresh")[0] == "OK"
    assert a.append("Fresh", r"(\Seen)", None, M1)[0] == "OK"
    assert a.append("Fresh", None, None, M2)[0] == "OK"
    a.select("Fresh")
    # this session's SELECT claimed both (RFC 3501 2.3.2)
    assert search(a, "RECENT") == [1, 2]
    assert search(a, "NEW") == [2]
    assert search(a, "OLD") == []
    b = login(srv)
    b.select("Fresh")
    assert search(b, "RECENT") == []
    assert search(b, "OLD") == [1, 2]
    assert search(b, "NEW") == []
    a.logout()
    b.logout()


def test_date_keys(imap):
    # internal dates: 15 Jan, 20 Jan, 1 Feb, 10 Feb, 1 Mar 2024
    assert search(imap, "SINCE", "1-Feb-2024") == [3, 4, 5]
    assert search(imap, "SINCE", '"01-Feb-2024"') == [3, 4, 5]
    assert search(imap, "BEFORE", "1-Feb-2024") == [1, 2]
    assert search(imap, "ON", "20-Jan-2024") == [2]
    assert search(imap, "ON", "21-jan-2024") == []
    assert search(imap, "SINCE", "20-Jan-2024", "BEFORE", "10-Feb-2024") == [2, 3]
    # Date: headers: 15 Jan, 20 Jan, 1 Feb 23:30 -0500 (2 Feb in UTC),
    # none (the internal date, 10 Feb, stands in), 1 Jan
    assert search(imap, "SENTON", "1-Feb-2024") == [3]
    assert search(imap, "SENTON", "2-Feb-2024") == []
    assert search(imap, "SENTBEFORE", "15-Jan-2024") == [5]
    assert search(imap, "SENTBEFORE", "16-Jan-2024") == [1, 5]
    assert search(imap, "SENTSINCE", "2-Feb-2024") == [4]
    assert search(imap, "SENTSINCE", "15-Jan-2024") == [1, 2, 3, 4]


def test_size_keys(imap):
    order = sorted(range(5), key=lambda i: SIZES[i])
    smallest, largest = order[0], order[-1]
    assert search(imap, "LARGER", str(SIZES[largest] - 1)) == [largest + 1]
    assert search(imap, "LARGER", str(SIZES[largest])) == []
    assert search(imap, "SMALLER", str(SIZES[smallest] + 1)) == [smallest + 1]
    assert search(imap, "SMALLER", str(SIZES[smallest])) == []
    mid = SIZES[order[2]]
    assert search(imap, "LARGER", str(mid)) == sorted(i + 1 for i in order[3:])
    assert search(imap, "NOT", "LARGER", "0") == []


def test_header_keys(imap):
    assert search(imap, "FROM", "alice") == [1]
    assert search(imap, "FROM", '"ALICE SMITH"') == [1]
    assert search(imap, "FROM", "bob@example.test") == [2]
    assert search(imap, "FROM", "yannick") == [2]
    assert search(imap, "TO", "alice") == [2]
    assert search(imap, "TO", "aaron") == [5]
    assert search(imap, "CC", "carol") == [1]
    assert search(imap, "BCC", "hidden") == [3]
    assert search(imap, "SUBJECT", "quarterly") == [1, 2, 4]
    assert search(imap, "SUBJECT", '"re: quarterly"') == [2]
    assert search(imap, "HEADER", "X-Custom", "hello") == [4]
    assert search(imap, "HEADER", "x-custom", '""') == [4]
    assert search(imap, "HEADER", "Message-ID", "<m2@") == [2]
    assert search(imap, "HEADER", "References", "m1@example.org") == [2, 3]
    assert search(imap, "HEADER", "References", "m2@example.org") == [3]
    assert search(imap, "HEADER", "In-Reply-To", "m2") == [3]
    assert search(imap, "HEADER", "X-Missing", '""') == []


def test_encoded_words(imap):
    # names and subjects are matched after RFC 2047 decoding
    assert literal_search(imap, "UTF-8", "FROM", "René".encode()) == [3]
    assert literal_search(imap, "UTF-8", "SUBJECT", "CAFÉ CRÈME".encode()) == [3]
    assert search(imap, "SUBJECT", "=?UTF-8?B?") == []
    assert search(imap, "FROM", "rene@example.fr") == [3]


def test_body_and_text(imap):
    assert search(imap, "BODY", "revenue") == [1]
    assert search(imap, "BODY", "REVENUE") == [1]
    # quoted-printable, soft line break removed
    assert search(imap, "BODY", "unique-qp-wordsplit") == [4]
    assert literal_search(imap, "UTF-8", "BODY", "café".encode()) == [4]
    # base64 in ISO-8859-1
    assert literal_search(imap, "UTF-8", "BODY", "RÉSUMÉ NAÏVE".encode()) == [3]
    assert search(imap, "BODY", "stripes") == [5]
    # attachments and the preamble are not text
    assert search(imap, "BODY", "secretattachmentword") == []
    assert search(imap, "BODY", "preamble") == []
    # BODY is not the header; TEXT is both
    assert search(imap, "BODY", "quarterly") == []
    assert search(imap, "TEXT", "quarterly") == [1, 2, 4]
    assert search(imap, "TEXT", "hello-header") == [4]
    assert search(imap, "TEXT", "revenue") == [1]
    assert search(imap, "TEXT", "unique-qp-wordsplit") == [4]
    assert search(imap, "BODY", "revenue", "BODY", "numbers", "TEXT", "alice") == [1]
    assert search(imap, "BODY", "revenue", "BODY", "nowhere") == []


def test_iso_8859_1_charset(imap):
    assert literal_search(imap, "ISO-8859-1", "BODY", "résumé".encode("latin-1")) == [3]
    assert literal_search(imap, "ISO-8859-1", "SUBJECT", "CRÈME".encode("latin-1")) == [3]
    assert literal_search(imap, "ISO-8859-1", "FROM", "René".encode("latin-1")) == [3]
    assert literal_search(imap, "iso-8859-1", "BODY", "café".encode("latin-1")) == [4]
    assert search(imap, "BODY", "revenue", charset="US-ASCII") == [1]


def test_not_or_nesting(imap):
    assert search(imap, "NOT", "SEEN") == [2, 3, 4, 5]
    assert search(imap, "NOT", "NOT", "DRAFT") == [3]
    assert search(imap, "OR", "SEEN", "DRAFT") == [1, 3]
    assert search(imap, "OR", "OR", "SEEN", "DRAFT", "DELETED") == [1, 3, 4]
    assert search(imap, "OR", "SEEN", "OR", "DRAFT", "DELETED") == [1, 3, 4]
    assert search(imap, "NOT", "(OR SEEN FLAGGED)") == [3, 4, 5]
    assert search(imap, "(SEEN)", "(FROM alice)") == [1]
    assert search(imap, "OR", "(FROM alice)", "(NOT OR SEEN ANSWERED)") == [1, 3, 4, 5]
    assert search(imap, "((OR BODY revenue (BODY stripes)) NOT SEEN)") == [5]
    assert search(imap, "FLAGGED", "UNDELETED", "SINCE", "1-Jan-2024") == [2]
    assert search(imap, "OR", "HEADER", "Message-ID", "<m1@", "OR", "HEADER", "Message-ID",
                  "<m3@", "HEADER", "Message-ID", "<m5@") == [1, 3, 5]


def test_sequence_sets_and_uids(imap):
    assert search(imap, "2:4", "NOT", "DRAFT") == [2, 4]
    assert search(imap, "*") == [5]
    assert search(imap, "1,3:*") == [1, 3, 4, 5]
    assert search(imap, "4:2") == [2, 3, 4]
    # UIDs are one higher (the first message was expunged)
    assert uid_search(imap, "ALL") == [2, 3, 4, 5, 6]
    assert uid_search(imap, "SEEN") == [2]
    assert search(imap, "UID", "2:3") == [1, 2]
    assert uid_search(imap, "1:2") == [2, 3]
    assert search(imap, "UID", "1") == []
    assert search(imap, "UID", "100:*") == [5]
    assert uid_search(imap, "UID", "3,4", "NOT", "DRAFT") == [3]
    with pytest.raises(imaplib.IMAP4.error, match="sequence"):
        imap.search(None, "9")


def esearch(raw, cmd):
    """The ESEARCH response of cmd after its correlator."""
    tag, out, tagged = raw.cmd(cmd)
    assert tagged.split()[1] == b"OK", (cmd, tagged)
    lines = [l for l in out if l.startswith(b"* ESEARCH")]
    assert len(lines) == 1, (cmd, out)
    prefix = f'* ESEARCH (TAG "{tag}")'.encode()
    assert lines[0].startswith(prefix), lines
    return lines[0][len(prefix):].decode()


def test_esearch(raw):
    assert esearch(raw, "SEARCH RETURN (MIN MAX COUNT) OR SEEN FLAGGED") == " MIN 1 MAX 2 COUNT 2"
    assert esearch(raw, "SEARCH RETURN () NOT SEEN") == " ALL 2:5"
    assert esearch(raw, "SEARCH RETURN (ALL) OR SEEN DELETED") == " ALL 1,4"
    assert esearch(raw, "UID SEARCH RETURN (ALL COUNT) UNSEEN") == " UID ALL 3:6 COUNT 4"
    assert esearch(raw, "UID SEARCH RETURN (MIN) BODY stripes") == " UID MIN 6"
    assert esearch(raw, "SEARCH RETURN (MAX) CHARSET UTF-8 SUBJECT quarterly") == " MAX 4"
    # nothing found: MIN, MAX and ALL are left out, COUNT is 0
    assert esearch(raw, "SEARCH RETURN (MIN MAX ALL COUNT) KEYWORD nosuch") == " COUNT 0"
    assert esearch(raw, "SEARCH RETURN (MIN) KEYWORD nosuch") == ""
    # without RETURN, IMAP4rev1 answers with SEARCH
    assert raw.untagged("SEARCH SEEN", b"SEARCH") == " 1"
    assert raw.untagged("SEARCH KEYWORD nosuch", b"SEARCH") == ""


def test_imap4rev2_answers_esearch(srv):
    r = Raw(srv)
    r.ok("ENABLE IMAP4rev2")
    r.ok("EXAMINE INBOX")
    tag, out, tagged = r.cmd("SEARCH SEEN")
    assert out == [f'* ESEARCH (TAG "{tag}") ALL 1'.encode()] and tagged.split()[1] == b"OK"
    tag, out, tagged = r.cmd("UID SEARCH OR SEEN DRAFT")
    assert out == [f'* ESEARCH (TAG "{tag}") UID ALL 2,4'.encode()]
    tag, out, tagged = r.cmd("SEARCH KEYWORD nosuch")
    assert out == [f'* ESEARCH (TAG "{tag}")'.encode()]
    r.close()


def test_searchres(raw):
    # SAVE alone: no ESEARCH response (RFC 5182 2.1)
    tag, out, tagged = raw.cmd("SEARCH RETURN (SAVE) FLAGGED")
    assert out == [] and tagged.split()[1] == b"OK"
    assert raw.untagged("SEARCH $", b"SEARCH") == " 2"
    assert raw.untagged("SEARCH OR $ DRAFT", b"SEARCH") == " 2 3"
    assert raw.untagged("UID SEARCH UID $", b"SEARCH") == " 3"
    assert raw.untagged("SEARCH NOT $", b"SEARCH") == " 1 3 4 5"
    out = raw.ok("FETCH $ (UID)")
    assert out == [b"* 2 FETCH (UID 3)"]
    # MIN saves only the minimum, MIN MAX both, COUNT everything
    assert esearch(raw, "SEARCH RETURN (SAVE MIN) NOT SEEN") == " MIN 2"
    assert raw.untagged("SEARCH $", b"SEARCH") == " 2"
    raw.ok("SEARCH RETURN (SAVE MIN MAX) NOT SEEN")
    assert raw.untagged("SEARCH $", b"SEARCH") == " 2 5"
    raw.ok("SEARCH RETURN (SAVE MIN COUNT) NOT SEEN")
    assert raw.untagged("SEARCH $", b"SEARCH") == " 2 3 4 5"
    # a failed SEARCH with SAVE empties $
    tag, out, tagged = raw.cmd("SEARCH RETURN (SAVE) NOSUCHKEY")
    assert tagged.split()[1] == b"BAD"
    assert raw.untagged("SEARCH $", b"SEARCH") == ""
    assert raw.untagged("SEARCH OR $ SEEN", b"SEARCH") == " 1"


def test_condstore_modseq(srv):
    r = Raw(srv)
    r.ok("CREATE Cond")
    for i in range(3):
        r.s.sendall(b"a%d APPEND Cond {%d+}\r\n" % (i, len(M1)) + M1 + b"\r\n")
        assert r.line().startswith(b"a%d OK" % i)
    r.ok("SELECT Cond")
    r.ok("STORE 2 +FLAGS.SILENT (\\Seen)")
    fetched = [l for l in r.ok("FETCH 1:* (MODSEQ)") if b" FETCH " in l]
    modseqs = [int(re.search(rb"MODSEQ \((\d+)\)", l).group(1)) for l in fetched]
    assert len(modseqs) == 3 and modseqs[1] == max(modseqs)
    out = r.ok(f"SEARCH MODSEQ {modseqs[1]}")
    assert out[-1] == f"* SEARCH 2 (MODSEQ {modseqs[1]})".encode()
    out = r.ok("SEARCH MODSEQ \"/flags/\\\\seen\" all 1")
    assert out[-1] == f"* SEARCH 1 2 3 (MODSEQ {max(modseqs)})".encode()
    out = r.ok(f"SEARCH RETURN (MIN COUNT) MODSEQ {min(modseqs)}")
    assert out[-1].endswith(f" MIN 1 COUNT 3 MODSEQ {max(modseqs)}".encode())
    out = r.ok(f"SEARCH MODSEQ {max(modseqs) + 1}")
    assert out[-1] == b"* SEARCH"
    r.close()


def test_condstore_enabled_by_modseq_key(srv):
    r = Raw(srv)
    r.ok("EXAMINE INBOX")
    out = r.ok("SEARCH MODSEQ 1 SEEN")
    # RFC 7162 3.1: the first CONDSTORE command announces HIGHESTMODSEQ
    assert any(l.startswith(b"* OK [HIGHESTMODSEQ ") for l in out), out
    assert re.fullmatch(rb"\* SEARCH 1 \(MODSEQ \d+\)", out[-1]), out
    r.close()


def test_flag_searches_read_no_message_file(srv):
    """Flag, UID, date and MODSEQ keys are answered from the index: they
    work on messages whose files cannot be read; BODY cannot."""
    m = login(srv)
    assert m.create("Locked")[0] == "OK"
    for msg, flags, date in MSGS[:3]:
        assert m.append("Locked", flags, date, msg)[0] == "OK"
    m.select("Locked")
    files = [f for f in glob.glob(os.path.join(srv.maildir(USER), ".Locked", "*", "*"))
             if os.path.isfile(f)]
    assert len(files) == 3
    for f in files:
        os.chmod(f, 0)
    try:
        assert search(m, "SEEN") == [1]
        assert search(m, "OR", "DRAFT", "KEYWORD", "$Work") == [2, 3]
        assert search(m, "UID", "1:*", "SINCE", "20-Jan-2024", "MODSEQ", "1") == [2, 3]
        assert search(m, "NOT", "RECENT") == []
        typ, data = m._simple_command("SEARCH", "BODY", "revenue")
        assert typ == "NO", data
    finally:
        for f in files:
            os.chmod(f, stat.S_IRUSR | stat.S_IWUSR)
    assert search(m, "BODY", "revenue") == [1]
    m.logout()


# ---- SORT ----

def sort(m, criteria, *keys, uid=False):
    if uid:
        typ, data = m.uid("SORT", criteria, "UTF-8", *keys)
    else:
        typ, data = m.sort(criteria, "UTF-8", *keys)
    assert typ == "OK", data
    return [int(x) for x in data[0].split()]


def test_sort(imap):
    # base subjects: QUARTERLY REPORT (1, 2 "Re:", 4 "Fwd:"), CAFé CRèME (3),
    # ZEBRA (5); equal keys stay in mailbox order
    assert sort(imap, "(SUBJECT)", "ALL") == [3, 1, 2, 4, 5]
    assert sort(imap, "(REVERSE SUBJECT)", "ALL") == [5, 1, 2, 4, 3]
    assert sort(imap, "(SUBJECT REVERSE DATE)", "ALL") == [3, 4, 2, 1, 5]
    assert sort(imap, "(ARRIVAL)", "ALL") == [1, 2, 3, 4, 5]
    assert sort(imap, "(REVERSE ARRIVAL)", "ALL") == [5, 4, 3, 2, 1]
    # sent dates: 15 Jan, 20 Jan, 2 Feb (UTC), none (10 Feb arrival), 1 Jan
    assert sort(imap, "(DATE)", "ALL") == [5, 1, 2, 3, 4]
    assert sort(imap, "(REVERSE DATE)", "ALL") == [4, 3, 2, 1, 5]
    # the first address's mailbox: alice, bob, rene, dave, zed
    assert sort(imap, "(FROM)", "ALL") == [1, 2, 4, 3, 5]
    # bob, alice, carol, eve, aaron
    assert sort(imap, "(TO)", "ALL") == [5, 2, 1, 3, 4]
    # only 1 has Cc: the empty ones sort first
    assert sort(imap, "(CC)", "ALL") == [2, 3, 4, 5, 1]
    assert sort(imap, "(REVERSE CC)", "ALL") == [1, 2, 3, 4, 5]
    assert sort(imap, "(SIZE)", "ALL") == sorted(range(1, 6), key=lambda i: SIZES[i - 1])
    assert sort(imap, "(REVERSE SIZE)", "ALL") == \
        sorted(range(1, 6), key=lambda i: -SIZES[i - 1])
    # RFC 5957: display names (decoded): Alice Smith, Yannick, René, Dave, Zed
    assert sort(imap, "(DISPLAYFROM)", "ALL") == [1, 4, 3, 2, 5]
    # To display: bob@example.test (no name), alice@..., carol@..., eve@..., Aaron
    assert sort(imap, "(DISPLAYTO)", "ALL") == [5, 2, 1, 3, 4]
    # with search keys and UIDs
    assert sort(imap, "(SUBJECT)", "UNSEEN") == [3, 2, 4, 5]
    assert sort(imap, "(DATE)", "ALL", uid=True) == [6, 2, 3, 4, 5]
    assert sort(imap, "(ARRIVAL)", "KEYWORD", "nosuch") == []


# ---- THREAD ----

def thread(m, alg, *keys, uid=False):
    if uid:
        typ, data = m.uid("THREAD", alg, "UTF-8", *keys)
    else:
        typ, data = m.thread(alg, "UTF-8", *keys)
    assert typ == "OK", data
    return (data[0] or b"").decode()


def test_thread_references(imap):
    # 2 replies to 1 (References), 3 to 2; 4 has no references but its
    # "Fwd:" subject joins it to 1 (RFC 5256 step 6); 5 stands alone and
    # is the oldest by Date:
    assert thread(imap, "REFERENCES", "ALL") == "(5)(1 (2 3)(4))"
    assert thread(imap, "REFERENCES", "ALL", uid=True) == "(6)(2 (3 4)(5))"
    # without 2, 3 still hangs below 1 through its References
    assert thread(imap, "REFERENCES", "NOT", "2") == "(5)(1 (3)(4))"
    assert thread(imap, "REFERENCES", "KEYWORD", "nosuch") == ""


def test_thread_orderedsubject(imap):
    # by base subject, each thread's first message by date the parent
    assert thread(imap, "ORDEREDSUBJECT", "ALL") == "(5)(1 (2)(4))(3)"
    assert thread(imap, "ORDEREDSUBJECT", "1:2") == "(1 2)"
    assert thread(imap, "orderedsubject", "ALL", uid=True) == "(6)(2 (3)(5))(4)"


# ---- errors ----

def test_errors(raw):
    def status(cmd):
        return raw.cmd(cmd)[2].split(b" ", 2)[1:]

    for bad in ("SEARCH", "SEARCH FOO", "SEARCH SINCE 31-Feb-2024", "SEARCH SINCE yesterday",
                "SEARCH LARGER -1", "SEARCH OR SEEN", "SEARCH NOT", "SEARCH ()",
                "SEARCH 1:x", "SEARCH 9", "SEARCH KEYWORD \\Seen", "SEARCH RETURN (PARTIAL 1:5) ALL",
                "SEARCH " + "(" * 40 + "SEEN" + ")" * 40, "SEARCH CHARSET",
                "SORT DATE UTF-8 ALL", "SORT (NAME) UTF-8 ALL", "SORT (DATE) UTF-8",
                "SORT (REVERSE) UTF-8 ALL", "THREAD FOO UTF-8 ALL", "THREAD REFERENCES UTF-8",
                "UID SEARCH UID 0"):
        st = status(bad)
        assert st[0] == b"BAD", (bad, st)
        raw.ok("NOOP")  # the server hangs up after 20 BAD in a row
    for cmd in ("SEARCH CHARSET X-NO-SUCH-CHARSET ALL", "SORT (DATE) X-NO-SUCH-CHARSET ALL",
                "THREAD REFERENCES X-NO-SUCH-CHARSET ALL"):
        st = status(cmd)
        assert st[0] == b"NO" and st[1].startswith(b"[BADCHARSET (UTF-8 US-ASCII)]"), (cmd, st)
    # the connection still works
    assert raw.untagged("SEARCH SEEN", b"SEARCH") == " 1"


def test_needs_selected_mailbox(srv):
    r = Raw(srv)
    for cmd in ("SEARCH ALL", "SORT (DATE) UTF-8 ALL", "THREAD REFERENCES UTF-8 ALL"):
        tag, out, tagged = r.cmd(cmd)
        assert tagged.split()[1] in (b"BAD", b"NO"), tagged
    r.close()


def test_asan_search_sort_thread():
    """Every kind of key, SORT and THREAD once under ASan and UBSan."""
    y = make("asan")
    try:
        m = login(y)
        fill(m)
        m.select("INBOX")
        assert search(m, "OR", "BODY", "revenue", "TEXT", "hello-header") == [1, 4]
        assert literal_search(m, "ISO-8859-1", "BODY", "résumé".encode("latin-1")) == [3]
        assert literal_search(m, "UTF-8", "FROM", "RENÉ".encode()) == [3]
        assert search(m, "NOT", "(OR SEEN (SINCE 1-Feb-2024 SENTBEFORE 2-Jan-2024))",
                      "LARGER", "1", "HEADER", "Message-ID", "@") == [2, 3, 4]
        assert sort(m, "(SUBJECT REVERSE DATE DISPLAYFROM)", "ALL") == [3, 4, 2, 1, 5]
        assert thread(m, "REFERENCES", "ALL") == "(5)(1 (2 3)(4))"
        assert thread(m, "ORDEREDSUBJECT", "ALL") == "(5)(1 (2)(4))(3)"
        r = Raw(y)
        r.ok("SELECT INBOX")
        assert esearch(r, "SEARCH RETURN (SAVE MIN MAX COUNT ALL) MODSEQ 1 UNSEEN") \
            .startswith(" MIN 2 MAX 5 ALL 2:5 COUNT 4 MODSEQ ")
        assert r.untagged("UID SEARCH $", b"SEARCH") == " 3 4 5 6"
        r.close()
        m.logout()
        log = y.read_log()
        assert "AddressSanitizer" not in log and "runtime error" not in log
    finally:
        y.stop()
        y.cleanup()
