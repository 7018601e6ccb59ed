"""IMAP folder commands (src/mail/imap-cmd-folder.c) with python imaplib and
raw lines: special-use folders made at first login, CREATE/DELETE/RENAME of
nested folders and of INBOX, subscriptions and LSUB, LIST patterns and the
reference argument, LIST-EXTENDED selection and return options, LIST-STATUS,
STATUS items, modified UTF-7 and UTF-8 names, names with ".", quota
(RFC 9208) and the Maildir++ layout on disk."""
import imaplib
import os
import re
import socket
import time

import pytest

from test_smtp import make

PW = "pw-{}"
DOMAIN = "example.test"


def add_user(y, name, quota=None):
    args = ["user", "add", f"{name}@{DOMAIN}", "--password-stdin"]
    if quota:
        args += ["--quota", quota]
    r = y.cli(*args, input=PW.format(name) + "\n")
    assert r.returncode == 0, r.stderr
    return f"{name}@{DOMAIN}"


def login(y, user):
    m = imaplib.IMAP4("127.0.0.1", y.ports["imap"], timeout=15)
    typ, _ = m.login(user, PW.format(user.split("@")[0]))
    assert typ == "OK"
    return m


class Raw:
    """Tagged commands over a socket, for what imaplib cannot express.
    Responses here carry no literals (names are atoms or quoted)."""

    def __init__(self, y, user):
        self.s = socket.create_connection(("127.0.0.1", y.ports["imap"]), timeout=15)
        self.f = self.s.makefile("rb")
        self.n = 0
        assert self.f.readline().startswith(b"* OK")
        self.ok(f'LOGIN "{user}" "{PW.format(user.split("@")[0])}"')

    def cmd(self, text):
        """All lines up to the tagged one (without CRLF); text is str or bytes."""
        self.n += 1
        tag = f"r{self.n}".encode()
        data = text.encode() if isinstance(text, str) else text
        self.s.sendall(tag + b" " + data + b"\r\n")
        out = []
        while True:
            line = self.f.readline()
            if not line:
                raise EOFError(out)
            line = line.rstrip(b"\r\n")
            out.append(line)
            if line.startswith(tag + b" "):
                out[-1] = line[len(tag) + 1:]
                return out

    def ok(self, text):
        out = self.cmd(text)
        assert out[-1].startswith(b"OK"), (text, out)
        return out[:-1]

    def close(self):
        self.s.close()


LIST_RE = re.compile(rb'^\* (LIST|LSUB) \(([^)]*)\) "/" ("(?:[^"\\]|\\.)*"|\S+)(.*)$')


def listing(lines):
    """{name: (set of attributes, rest of the line)} of LIST/LSUB lines."""
    out = {}
    for line in lines:
        mt = LIST_RE.match(line)
        if mt is None:
            continue
        name = mt.group(3)
        if name.startswith(b'"'):
            name = name[1:-1]
        attrs = set(mt.group(2).split()) if mt.group(2) else set()
        out[name.decode()] = ({a.decode() for a in attrs}, mt.group(4).strip().decode())
    return out


def names(lines):
    return [n for n in listing(lines)]


def status_of(lines):
    """{name: {item: value}} of STATUS lines."""
    out = {}
    for line in lines:
        mt = re.match(rb'^\* STATUS ("[^"]*"|\S+) \(([^)]*)\)$', line)
        if mt:
            f = mt.group(2).split()
            out[mt.group(1).strip(b'"').decode()] = {f[i].decode(): int(f[i + 1])
                                                      for i in range(0, len(f), 2)}
    return out


MSG = b"From: a@example.org\r\nSubject: hi\r\n\r\nline one\r\nline two\r\n"

SPECIAL = {"Drafts": "\\Drafts", "Sent": "\\Sent", "Trash": "\\Trash", "Junk": "\\Junk",
           "Archive": "\\Archive"}


@pytest.fixture(scope="module")
def srv():
    y = make("plain")
    yield y
    y.stop()
    y.cleanup()


def test_first_login_makes_special_use_folders(srv):
    user = add_user(srv, "first")
    r = Raw(srv, user)
    got = listing(r.ok('LIST "" "*"'))
    assert list(got) == ["INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"]
    assert got["INBOX"][0] == {"\\HasNoChildren"}
    for name, attr in SPECIAL.items():
        assert got[name][0] == {"\\HasNoChildren", attr}, got[name]
        # Maildir++ on disk, as Dovecot and Courier keep it
        d = os.path.join(srv.maildir(user), "." + name)
        for sub in ("cur", "new", "tmp"):
            assert os.path.isdir(os.path.join(d, sub))
        assert os.path.isfile(os.path.join(d, "maildirfolder"))
    # RFC 6154 selection option: only the special ones; they are subscribed
    assert set(names(r.ok('LIST (SPECIAL-USE) "" "*"'))) == set(SPECIAL)
    assert set(names(r.ok('LSUB "" "*"'))) == set(SPECIAL)
    sub = listing(r.ok('LIST (SUBSCRIBED) "" "*"'))
    assert all("\\Subscribed" in a for a, _ in sub.values()) and set(sub) == set(SPECIAL)
    # a second login does not create them again nor change anything
    r.close()
    r = Raw(srv, user)
    assert listing(r.ok('LIST "" "*"')) == got
    r.close()


def test_create_delete_rename_nested(srv):
    user = add_user(srv, "nest")
    m = login(srv, user)
    assert m.create("a/b/c")[0] == "OK"
    typ, data = m.create("a/b/c")
    assert typ == "NO" and b"[ALREADYEXISTS]" in data[0]
    typ, data = m.create("inbox")
    assert typ == "NO" and b"[ALREADYEXISTS]" in data[0]
    assert m.create("decl/")[0] == "OK"     # RFC 9051 6.3.4: trailing delimiter
    typ, data = m.create("bad//name")
    assert typ == "NO" and b"[CANNOT]" in data[0]
    root = srv.maildir(user)
    assert os.path.isdir(os.path.join(root, ".a.b.c", "cur"))
    assert os.path.isdir(os.path.join(root, ".decl", "cur"))
    r = Raw(srv, user)
    for wild in ("wild*", "wild%"):
        assert r.cmd(f'CREATE "{wild}"')[-1].startswith(b"NO [CANNOT]")
    got = listing(r.ok('LIST "" "a*"'))
    assert got == {"a": ({"\\HasChildren"}, ""), "a/b": ({"\\HasChildren"}, ""),
                   "a/b/c": ({"\\HasNoChildren"}, "")}
    # DELETE keeps the children: the parent becomes a level without a folder
    assert m.delete("a/b")[0] == "OK"
    assert not os.path.exists(os.path.join(root, ".a.b"))
    got = listing(r.ok('LIST "" "a/*"'))
    assert got["a/b"][0] == {"\\Noselect", "\\HasChildren"}
    assert got["a/b/c"][0] == {"\\HasNoChildren"}
    ext = listing(r.ok('LIST () "" "a/*"'))
    assert ext["a/b"][0] == {"\\NonExistent", "\\HasChildren"}
    typ, data = m.delete("a/b")
    assert typ == "NO" and b"[NONEXISTENT]" in data[0]
    typ, data = m.delete("INBOX")
    assert typ == "NO"
    # RENAME takes the children along and creates missing parents
    assert m.rename("a", "z/y")[0] == "OK"
    got = listing(r.ok('LIST "" "*"'))
    assert "a" not in got and "a/b/c" not in got
    assert got["z/y/b/c"][0] == {"\\HasNoChildren"} and "z/y" in got and "z" in got
    assert os.path.isdir(os.path.join(root, ".z.y.b.c", "cur"))
    typ, data = m.rename("decl", "z/y")
    assert typ == "NO" and b"[ALREADYEXISTS]" in data[0]
    typ, data = m.rename("z", "z/y/q")
    assert typ == "NO" and b"[CANNOT]" in data[0]
    typ, data = m.rename("nothere", "elsewhere")
    assert typ == "NO" and b"[NONEXISTENT]" in data[0]
    typ, data = m.rename("decl", "INBOX")
    assert typ == "NO" and b"[ALREADYEXISTS]" in data[0]
    assert r.cmd("CREATE")[-1].startswith(b"BAD")
    assert r.cmd("RENAME a")[-1].startswith(b"BAD")
    assert r.cmd("DELETE")[-1].startswith(b"BAD")
    r.close()
    m.logout()


def test_rename_inbox_moves_messages(srv):
    user = add_user(srv, "renin")
    m = login(srv, user)
    for i in range(3):
        assert m.append("INBOX", None, None, MSG)[0] == "OK"
    assert m.create("INBOX/child")[0] == "OK"
    assert m.rename("INBOX", "Old/inbox")[0] == "OK"
    r = Raw(srv, user)
    st = status_of(r.ok('STATUS "Old/inbox" (MESSAGES)') + r.ok("STATUS INBOX (MESSAGES)"))
    assert st == {"Old/inbox": {"MESSAGES": 3}, "INBOX": {"MESSAGES": 0}}
    got = listing(r.ok('LIST "" "*"'))
    # INBOX stays, with its child (RFC 9051 6.3.6)
    assert got["INBOX"][0] == {"\\HasChildren"} and "INBOX/child" in got
    root = srv.maildir(user)
    assert len(os.listdir(os.path.join(root, ".Old.inbox", "cur"))) == 3
    assert os.listdir(os.path.join(root, "cur")) == [] and os.listdir(os.path.join(root, "new")) == []
    # and INBOX still takes mail
    assert m.append("INBOX", None, None, MSG)[0] == "OK"
    assert status_of(r.ok("STATUS INBOX (MESSAGES)"))["INBOX"]["MESSAGES"] == 1
    r.close()
    m.logout()


def test_subscriptions_and_lsub(srv):
    user = add_user(srv, "subs")
    m = login(srv, user)
    r = Raw(srv, user)
    for name in ("p/q/r", "p/s", "solo"):
        assert m.create(name)[0] == "OK"
    assert m.subscribe("p/q/r")[0] == "OK"
    assert m.subscribe("ghost/x")[0] == "OK"          # need not exist
    assert m.unsubscribe("never-subscribed")[0] == "OK"
    lsub = listing(r.ok('LSUB "" "*"'))
    assert {"p/q/r", "ghost/x"} <= set(lsub) and "p" not in lsub
    assert lsub["p/q/r"][0] == set() and lsub["ghost/x"][0] == set()
    # RFC 3501 6.3.9: "%" also returns the unsubscribed parents, \Noselect
    lsub = listing(r.ok('LSUB "" "%"'))
    assert lsub["p"][0] == {"\\Noselect"} and lsub["ghost"][0] == {"\\Noselect"}
    assert "p/q/r" not in lsub and "solo" not in lsub
    assert listing(r.ok('LSUB "p/" "%"')) == {"p/q": ({"\\Noselect"}, "")}
    # imaplib's lsub as a client would use it
    typ, data = m.lsub('""', "p/*")
    assert typ == "OK" and data == [b'() "/" p/q/r']
    # LIST (SUBSCRIBED): existing and non-existing subscriptions
    got = listing(r.ok('LIST (SUBSCRIBED) "" "*"'))
    assert got["p/q/r"][0] == {"\\Subscribed", "\\HasNoChildren"}
    assert got["ghost/x"][0] == {"\\Subscribed", "\\NonExistent"}
    assert "p" not in got and "solo" not in got
    # RECURSIVEMATCH: parents with CHILDINFO
    got = listing(r.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"'))
    assert got["p"] == ({"\\HasChildren"}, '("CHILDINFO" ("SUBSCRIBED"))')
    assert got["ghost"] == ({"\\NonExistent"}, '("CHILDINFO" ("SUBSCRIBED"))')
    assert "solo" not in got
    # return option only marks
    got = listing(r.ok('LIST "" "%" RETURN (SUBSCRIBED)'))
    assert "ghost" not in got and got["solo"][0] == {"\\HasNoChildren"}
    # RENAME carries subscriptions, DELETE keeps them
    assert m.rename("p", "pp")[0] == "OK"
    lsub = names(r.ok('LSUB "" "*"'))
    assert "pp/q/r" in lsub and "p/q/r" not in lsub
    assert m.delete("pp/q/r")[0] == "OK"
    got = listing(r.ok('LIST (SUBSCRIBED) "" "pp/*"'))
    assert got["pp/q/r"][0] == {"\\Subscribed", "\\NonExistent"}
    assert m.unsubscribe("pp/q/r")[0] == "OK"
    assert "pp/q/r" not in names(r.ok('LSUB "" "*"'))
    with open(os.path.join(srv.maildir(user), "youju.subscriptions")) as f:
        assert "ghost/x\n" in f.read()
    r.close()
    m.logout()


def test_deep_subscriptions_stay_cheap(srv):
    """Many subscriptions 120 levels deep share their parents: LSUB "%" and
    RECURSIVEMATCH list each parent once, quickly."""
    user = add_user(srv, "deep")
    r = Raw(srv, user)
    deep = "d/" * 120
    n = 60
    r.s.sendall(b"".join(b"s%d SUBSCRIBE %s%d\r\n" % (i, deep.encode(), i) for i in range(n)))
    for i in range(n):
        assert r.f.readline().startswith(b"s%d OK" % i)
    t = time.time()
    assert listing(r.ok('LSUB "" "d"')) == {}      # no "%": subscribed names only
    assert listing(r.ok('LSUB "" "d%"')) == {"d": ({"\\Noselect"}, "")}
    assert listing(r.ok('LSUB "" "d/d/%"')) == {"d/d/d": ({"\\Noselect"}, "")}
    got = listing(r.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "d*"'))
    parents = [deep[:2 * k + 1] for k in range(120)]
    assert len(got) == 120 + n
    for p in parents:
        assert got[p] == ({"\\NonExistent"}, '("CHILDINFO" ("SUBSCRIBED"))'), p
    assert got[deep + "7"][0] == {"\\NonExistent", "\\Subscribed"}
    assert time.time() - t < 3
    r.close()


def test_list_patterns_and_reference(srv):
    user = add_user(srv, "pat")
    m = login(srv, user)
    for name in ("Work", "Work/2024", "Work/2024/Q1", "work-lower", "Wo"):
        assert m.create(name)[0] == "OK"
    r = Raw(srv, user)
    # "%" stays in one level, "*" crosses them
    assert names(r.ok('LIST "" "Work/%"')) == ["Work/2024"]
    assert names(r.ok('LIST "" "Work/*"')) == ["Work/2024", "Work/2024/Q1"]
    assert names(r.ok('LIST "" "W%"')) == ["Wo", "Work"]
    assert names(r.ok('LIST "" "%/%/%"')) == ["Work/2024/Q1"]
    assert names(r.ok('LIST "" "*Q1"')) == ["Work/2024/Q1"]
    # names are case-sensitive, INBOX is not
    assert names(r.ok('LIST "" "work*"')) == ["work-lower"]
    assert names(r.ok('LIST "" "inbox"')) == ["INBOX"]
    assert names(r.ok('LIST "" "InBoX"')) == ["INBOX"]
    # the reference is prepended
    assert names(r.ok('LIST "Work/" "%"')) == ["Work/2024"]
    assert names(r.ok('LIST "Work/2024/" "*"')) == ["Work/2024/Q1"]
    assert names(r.ok('LIST "W" "o"')) == ["Wo"]
    # RFC 9051 6.3.9: an empty name asks for the delimiter
    assert r.ok('LIST "" ""') == [b'* LIST (\\Noselect) "/" ""']
    assert r.ok('LIST "Work/" ""') == [b'* LIST (\\Noselect) "/" ""']
    # a list of patterns (RFC 5258): each name once, in order
    assert names(r.ok('LIST "" ("Wo" "Work/*" "Wo*")')) == ["Wo", "Work", "Work/2024",
                                                             "Work/2024/Q1"]
    assert names(r.ok('LIST "" "nothing*"')) == []
    typ, data = m.list('""', "Work/%")
    assert typ == "OK" and data == [b'(\\HasChildren) "/" Work/2024']
    # bounded: too many wildcards, too many patterns are refused
    out = r.cmd('LIST "" "' + "%" * 40 + '"')
    assert out[-1].startswith(b"BAD") and b"wildcards" in out[-1]
    pats = " ".join(f'"p{i}"' for i in range(40))
    assert r.cmd(f'LIST "" ({pats})')[-1].startswith(b"BAD")
    # a pattern a backtracking matcher chokes on, against long names
    long = "a" * 200
    for i in range(5):
        assert m.create(f"{long}{i}")[0] == "OK"
    t = time.time()
    assert names(r.ok('LIST "" "' + "*a" * 15 + '*b"')) == []
    assert len(names(r.ok('LIST "" "' + "%a" * 15 + '%"'))) == 5
    assert time.time() - t < 2
    r.close()
    m.logout()


def test_list_extended_options(srv):
    user = add_user(srv, "ext")
    m = login(srv, user)
    for name in ("Fruit/Apple", "Fruit/Banana", "Tofu", "Vegetable/Broccoli"):
        assert m.create(name)[0] == "OK"
    assert m.subscribe("Fruit/Banana")[0] == "OK"
    assert m.subscribe("Fruit/Peach")[0] == "OK"
    r = Raw(srv, user)
    got = listing(r.ok('LIST "" "%" RETURN (CHILDREN)'))
    assert got["Fruit"][0] == {"\\HasChildren"} and got["Tofu"][0] == {"\\HasNoChildren"}
    got = listing(r.ok('LIST (SUBSCRIBED) "" "*" RETURN (CHILDREN)'))
    assert got["Fruit/Banana"][0] == {"\\Subscribed", "\\HasNoChildren"}
    assert got["Fruit/Peach"][0] == {"\\Subscribed", "\\NonExistent"}
    assert "Tofu" not in got and "Fruit" not in got
    # RECURSIVEMATCH with "*": the parent matches too, with CHILDINFO
    got = listing(r.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "*"'))
    assert got["Fruit"][1] == '("CHILDINFO" ("SUBSCRIBED"))'
    assert "Vegetable" not in got
    # REMOTE is accepted (no remote mailboxes)
    assert set(names(r.ok('LIST (REMOTE SUBSCRIBED) "" "*"'))) == {"Archive", "Drafts", "Junk",
                                                                    "Sent", "Trash",
                                                                    "Fruit/Banana",
                                                                    "Fruit/Peach"}
    # special use: selection (only those) and return option
    got = listing(r.ok('LIST (SPECIAL-USE) "" "*" RETURN (SPECIAL-USE)'))
    assert {n: a for n, (a, _) in got.items()} == {
        n: {a, "\\HasNoChildren"} for n, a in SPECIAL.items()}
    assert listing(r.ok('LIST (SPECIAL-USE RECURSIVEMATCH) "" "%"')).keys() == SPECIAL.keys()
    # several options at once, case-insensitive
    got = listing(r.ok('list (subscribed special-use) "" "*" return (children subscribed)'))
    assert set(got) == set(SPECIAL)
    # errors: RFC 5258 3.1 and unknown options
    for bad in ('LIST (RECURSIVEMATCH) "" "*"', 'LIST (RECURSIVEMATCH REMOTE) "" "*"',
                'LIST (BOGUS) "" "*"', 'LIST "" "*" RETURN (BOGUS)',
                'LIST "" "*" RETURN (STATUS ())', 'LIST "" "*" RETURN (STATUS (BOGUS))',
                'LIST "" "*" RETURN', 'LIST "" () ', 'LIST "" "*" EXTRA',
                'LSUB () "" "*"', 'LIST ""'):
        out = r.cmd(bad)
        assert out[-1].startswith(b"BAD"), (bad, out)
    r.close()
    m.logout()


def test_list_status_and_status_items(srv):
    user = add_user(srv, "stat")
    m = login(srv, user)
    assert m.create("Box")[0] == "OK"
    for _ in range(3):
        assert m.append("Box", None, None, MSG)[0] == "OK"
    assert m.append("Box", "(\\Seen \\Deleted)", None, MSG)[0] == "OK"
    r = Raw(srv, user)
    items = "MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE HIGHESTMODSEQ APPENDLIMIT"
    st = status_of(r.ok(f"STATUS Box ({items})"))["Box"]
    files = [os.path.join(d, f) for d in (os.path.join(srv.maildir(user), ".Box", s)
                                          for s in ("cur", "new")) for f in os.listdir(d)]
    size = 0
    for p in files:
        with open(p, "rb") as f:
            data = f.read()
        size += len(data) + data.count(b"\n") - data.count(b"\r\n")
    assert st["MESSAGES"] == 4 and st["UNSEEN"] == 3 and st["DELETED"] == 1
    assert st["UIDNEXT"] == 5 and st["UIDVALIDITY"] > 0 and st["HIGHESTMODSEQ"] > 0
    assert st["SIZE"] == size and st["APPENDLIMIT"] == 64 * 1024 * 1024
    assert st["RECENT"] in (0, 4)
    # the same as SELECT says, and the selected view answers for itself
    typ, _ = m.select("Box")
    assert typ == "OK"
    assert int(m.untagged_responses["UIDVALIDITY"][0]) == st["UIDVALIDITY"]
    typ, data = m.status("Box", "(MESSAGES UIDNEXT)")
    assert typ == "OK" and data == [b"Box (MESSAGES 4 UIDNEXT 5)"]
    # RFC 7162 3.1: STATUS (HIGHESTMODSEQ) turns CONDSTORE on
    r2 = Raw(srv, user)
    r2.ok("SELECT INBOX")
    out = r2.ok("STATUS Box (HIGHESTMODSEQ)")
    assert any(l.startswith(b"* OK [HIGHESTMODSEQ ") for l in out), out
    assert not any(b"[HIGHESTMODSEQ" in l for l in r2.ok("STATUS Box (HIGHESTMODSEQ)"))
    r2.close()
    # order as asked, each once
    assert r.ok("STATUS Box (UIDNEXT MESSAGES UIDNEXT)") == [b"* STATUS Box (UIDNEXT 5 MESSAGES 4)"]
    # LIST-STATUS: a STATUS after each selectable LIST line
    out = r.ok('LIST "" "*" RETURN (STATUS (MESSAGES UNSEEN SIZE))')
    lists = [i for i, l in enumerate(out) if l.startswith(b"* LIST")]
    for i in lists:
        assert out[i + 1].startswith(b"* STATUS"), out
    sts = status_of(out)
    assert set(sts) == set(names(out))
    assert sts["Box"] == {"MESSAGES": 4, "UNSEEN": 3, "SIZE": size}
    assert sts["INBOX"] == {"MESSAGES": 0, "UNSEEN": 0, "SIZE": 0}
    # no STATUS for a level without a folder
    assert m.create("Lvl/Sub")[0] == "OK" and m.delete("Lvl")[0] == "OK"
    out = r.ok('LIST "" "Lvl*" RETURN (STATUS (MESSAGES))')
    assert status_of(out).keys() == {"Lvl/Sub"}
    assert listing(out)["Lvl"][0] == {"\\NonExistent", "\\HasChildren"}
    # errors
    out = r.cmd("STATUS Nope (MESSAGES)")
    assert out[-1].startswith(b"NO [NONEXISTENT]")
    out = r.cmd("STATUS Lvl (MESSAGES)")
    assert out[-1].startswith(b"NO [NONEXISTENT]")
    for bad in ("STATUS Box (BOGUS)", "STATUS Box ()", "STATUS Box", "STATUS Box MESSAGES"):
        assert r.cmd(bad)[-1].startswith(b"BAD"), bad
    r.close()
    m.logout()


def test_utf7_and_utf8_names(srv):
    user = add_user(srv, "utf")
    r = Raw(srv, user)
    r.ok("CREATE Entw&APw-rfe")
    r.ok('CREATE "Caf&AOk-/Men&APw-"')
    root = srv.maildir(user)
    assert os.path.isdir(os.path.join(root, ".Entw&APw-rfe", "cur"))
    assert os.path.isdir(os.path.join(root, ".Caf&AOk-.Men&APw-", "cur"))
    got = listing(r.ok('LIST "" "*"'))
    assert {"Entw&APw-rfe", "Caf&AOk-", "Caf&AOk-/Men&APw-"} <= set(got)
    assert names(r.ok('LIST "" "Entw&APw-*"')) == ["Entw&APw-rfe"]
    # "&" itself is "&-"
    r.ok('CREATE "R&-D"')
    assert os.path.isdir(os.path.join(root, ".R&-D"))
    assert names(r.ok('LIST "" "R&-*"')) == ["R&-D"]
    # not canonical modified UTF-7: BAD with a clear reason
    for bad in ("Entw&APw", "Entw&AGE-", "x&Jjo!-", "&AOQ-&APY-"):
        out = r.cmd(f'CREATE "{bad}"')
        assert out[-1].startswith(b"BAD") and b"modified UTF-7" in out[-1], (bad, out)
    assert r.cmd('LIST "" "&AGE"')[-1].startswith(b"BAD")
    assert r.cmd('CREATE "raw\xc3\xa4"'.encode("latin-1"))[-1].startswith(b"BAD")
    # after ENABLE UTF8=ACCEPT: UTF-8 both ways (RFC 6855)
    r.ok("ENABLE UTF8=ACCEPT")
    assert {"Entwürfe", "Café", "Café/Menü", "R&D"} <= set(names(r.ok('LIST "" "*"')))
    raw = r.ok('LIST "" "Entw*"')
    assert raw == ['* LIST (\\HasNoChildren) "/" "Entwürfe"'.encode()]
    r.ok('CREATE "Grüße/日本"'.encode())
    assert os.path.isdir(os.path.join(root, ".Gr&APwA3w-e.&ZeVnLA-", "cur"))
    assert r.ok('STATUS "Grüße/日本" (MESSAGES)'.encode()) == [
        '* STATUS "Grüße/日本" (MESSAGES 0)'.encode()]
    # mUTF-7 is now taken literally
    r.ok("CREATE Entw&APw-rfe2")
    assert os.path.isdir(os.path.join(root, ".Entw&-APw-rfe2"))
    assert r.cmd(b'CREATE "bad\xff"')[-1].startswith(b"BAD")
    r.close()
    # a session without UTF8=ACCEPT sees the same folders in mUTF-7
    r = Raw(srv, user)
    assert "Gr&APwA3w-e/&ZeVnLA-" in names(r.ok('LIST "" "Gr*"'))
    r.close()


def test_names_with_dots(srv):
    user = add_user(srv, "dots")
    m = login(srv, user)
    assert m.create("v1.2")[0] == "OK"
    assert m.create("lists/debian.org/devel")[0] == "OK"
    root = srv.maildir(user)
    # "." is the on-disk separator, so it is encoded inside a component
    assert os.path.isdir(os.path.join(root, ".v1&AC4-2", "cur"))
    assert os.path.isdir(os.path.join(root, ".lists.debian&AC4-org.devel", "cur"))
    r = Raw(srv, user)
    assert names(r.ok('LIST "" "*.*"')) == ["lists/debian.org", "lists/debian.org/devel", "v1.2"]
    assert m.rename("v1.2", "v2.0")[0] == "OK"
    assert os.path.isdir(os.path.join(root, ".v2&AC4-0")) and not os.path.exists(
        os.path.join(root, ".v1&AC4-2"))
    typ, data = m.create(".hidden")
    assert typ == "NO"
    typ, data = m.create("a..b")
    assert typ == "NO"
    r.close()
    m.logout()


def test_quota(srv):
    limited = add_user(srv, "quota", quota="10M")
    r = Raw(srv, limited)
    r.ok("APPEND INBOX {%d+}\r\n" % len(MSG) + MSG.decode())
    r.ok("CREATE Other")
    r.ok("APPEND Other {%d+}\r\n" % len(MSG) + MSG.decode())
    disk = 0
    for d in ("cur", "new", ".Other/cur", ".Other/new"):
        p = os.path.join(srv.maildir(limited), d)
        disk += sum(os.path.getsize(os.path.join(p, f)) for f in os.listdir(p))
    kib = (disk + 1023) // 1024
    out = r.ok("GETQUOTAROOT INBOX")
    assert out == [b'* QUOTAROOT INBOX ""', f'* QUOTA "" (STORAGE {kib} 10240)'.encode()]
    assert r.ok('GETQUOTAROOT "Other"')[0] == b'* QUOTAROOT Other ""'
    assert r.ok('GETQUOTA ""') == [f'* QUOTA "" (STORAGE {kib} 10240)'.encode()]
    assert r.cmd('GETQUOTA "other"')[-1].startswith(b"NO")
    assert r.cmd("GETQUOTAROOT Nope")[-1].startswith(b"NO [NONEXISTENT]")
    assert r.cmd('SETQUOTA "" (STORAGE 1)')[-1].startswith(b"NO")
    assert r.cmd("GETQUOTA")[-1].startswith(b"BAD")
    r.close()
    # imaplib reads it as clients do
    m = login(srv, limited)
    typ, data = m.getquotaroot("INBOX")
    assert typ == "OK" and data[0] == [b'INBOX ""'] and data[1] == [f'"" (STORAGE {kib} 10240)'.encode()]
    m.logout()
    # no limit: no quota root (RFC 9208 needs a limit for every resource)
    free = add_user(srv, "noquota")
    r = Raw(srv, free)
    assert r.ok("GETQUOTAROOT INBOX") == [b"* QUOTAROOT INBOX"]
    assert r.cmd('GETQUOTA ""')[-1].startswith(b"NO")
    r.close()


def test_delete_selected_and_rev2(srv):
    user = add_user(srv, "rev2")
    r = Raw(srv, user)
    r.ok("ENABLE IMAP4rev2")
    r.ok("CREATE Gone")
    r.ok("CREATE Tree/Leaf")
    r.ok("SELECT Gone")
    # deleting the selected mailbox is allowed: the session leaves it first
    out = r.cmd("DELETE Gone")
    assert out[-1].startswith(b"OK") and out[0].startswith(b"* OK [CLOSED]"), out
    assert r.cmd("CHECK")[-1].startswith(b"BAD")     # no mailbox selected now
    r.ok("SELECT INBOX")
    assert r.cmd("DELETE INBOX")[-1].startswith(b"NO")
    r.ok("CHECK")                                   # INBOX is still selected
    other = Raw(srv, user)
    assert "Gone" not in names(other.ok('LIST "" "*"'))
    # IMAP4rev2 LIST: children attributes, the delimiter request, STATUS DELETED
    got = listing(other.ok('LIST "" "%"'))
    assert got["Tree"][0] == {"\\HasChildren"} and got["INBOX"][0] == {"\\HasNoChildren"}
    other.ok("ENABLE IMAP4rev2")
    assert listing(other.ok('LIST "" "%"')) == got
    assert other.ok('LIST "" ""') == [b'* LIST (\\Noselect) "/" ""']
    assert other.ok("STATUS Tree/Leaf (DELETED SIZE)") == [
        b"* STATUS Tree/Leaf (DELETED 0 SIZE 0)"]
    other.close()
    r.close()


def test_large_list_to_a_slow_reader(srv):
    """~380 KB of LIST-STATUS output to a client with a tiny receive window:
    the server writes it in slices as the client reads (IMAP_OUTPUT_HIGH)
    and every entry arrives once, in order, each with its STATUS."""
    user = add_user(srv, "many")
    r = Raw(srv, user)
    n = 600
    r.s.sendall(b"".join(b"c%d CREATE %s%03d\r\n" % (i, b"x" * 240, i) for i in range(n)))
    for i in range(n):
        assert r.f.readline().startswith(b"c%d OK" % i)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(30)
    s.connect(("127.0.0.1", srv.ports["imap"]))
    f = s.makefile("rb")
    assert f.readline().startswith(b"* OK")
    s.sendall(f'a LOGIN "{user}" "{PW.format("many")}"\r\n'.encode())
    assert f.readline().startswith(b"a OK")
    s.sendall(b'b LIST "" "x*" RETURN (STATUS (MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE))\r\n')
    time.sleep(1)   # let the server fill what the window allows
    lines = []
    while True:
        line = f.readline().rstrip(b"\r\n")
        if line.startswith(b"b "):
            break
        lines.append(line)
    assert line == b"b OK List completed."
    assert len(lines) == 2 * n
    want = ["x" * 240 + "%03d" % i for i in range(n)]
    assert names(lines) == want
    assert list(status_of(lines)) == want
    s.close()
    r.close()


def test_folder_commands_asan():
    """The whole family once under ASan/UBSan (the server's stop() checks
    the log for sanitizer reports)."""
    y = make("asan")
    try:
        user = add_user(y, "asan", quota="1M")
        r = Raw(y, user)
        r.ok("CREATE a/b/c")
        r.ok("CREATE Entw&APw-rfe")
        r.ok("APPEND a/b/c {%d+}\r\n" % len(MSG) + MSG.decode())
        r.ok("SUBSCRIBE a/b/c")
        r.ok("SUBSCRIBE x/y")
        assert names(r.ok('LSUB "" "%"')) == ["Archive", "Drafts", "Junk", "Sent", "Trash",
                                               "a", "x"]
        out = r.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" ("a*" "x*" "Entw*") '
                   'RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES SIZE HIGHESTMODSEQ))')
        assert status_of(out)["a/b/c"]["MESSAGES"] == 1
        r.ok("RENAME a q")
        r.ok("DELETE q/b")
        assert "q/b/c" in names(r.ok('LIST "" "*"'))
        r.ok("RENAME INBOX Saved")
        assert r.ok("GETQUOTAROOT INBOX")[1].startswith(b'* QUOTA "" (STORAGE 1 1024)')
        r.ok("ENABLE UTF8=ACCEPT")
        assert names(r.ok('LIST "" "Entw*"')) == ["Entwürfe"]
        assert r.cmd('LIST "" "' + "*a" * 40 + '"')[-1].startswith(b"BAD")
        r.close()
    finally:
        y.stop()
        y.cleanup()
