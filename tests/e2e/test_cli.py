"""The admin CLI on a real directory, with and without the daemon."""
import os
import sqlite3
import subprocess

import pytest

PASSWORD = "Zq7-unique-secret-pw"


def add_user(y, email, password=PASSWORD, *extra):
    return y.cli("user", "add", email, "--password-stdin", *extra, input=password + "\n")


@pytest.fixture
def populated(youju_plain):
    y = youju_plain
    assert y.cli("domain", "add", "example.test").returncode == 0
    assert y.cli("domain", "add", "other.test").returncode == 0
    r = add_user(y, "alice@example.test")
    assert r.returncode == 0, r.stderr
    assert add_user(y, "bob@example.test", "bobpw").returncode == 0
    return y


def test_domain_round_trip(instance):
    y = instance
    assert y.cli("domain", "add", "Example.TEST").returncode == 0
    r = y.cli("domain", "add", "example.test")
    assert r.returncode == 1 and "already exists" in r.stderr
    r = y.cli("domain", "add", "bad..domain")
    assert r.returncode == 1 and "not a valid domain" in r.stderr
    assert y.cli("domain", "list").stdout.split() == ["example.test"]
    assert y.cli("domain", "del", "example.test").returncode == 0
    assert y.cli("domain", "list").stdout.strip() == ""
    r = y.cli("domain", "del", "example.test")
    assert r.returncode == 1 and "example.test" in r.stderr


def test_user_errors(instance):
    y = instance
    assert y.cli("domain", "add", "example.test").returncode == 0
    assert add_user(y, "alice@example.test").returncode == 0
    r = add_user(y, "alice@example.test")
    assert r.returncode == 1 and "already exists" in r.stderr
    r = add_user(y, "carol@unknown.test")
    assert r.returncode == 1 and "unknown domain" in r.stderr
    for bad in ("not-an-address", "a@@example.test", "a/b@example.test", "..@example.test",
                ".hidden@example.test", "a\x01b@example.test"):
        r = add_user(y, bad)
        assert r.returncode == 1, bad
        assert r.stderr.startswith("youju: "), bad
    # no half-written rows
    assert y.cli("user", "list").stdout.split() == ["alice@example.test"]
    # the password never comes from argv alone
    r = y.cli("user", "add", "dave@example.test", "secret")
    assert r.returncode == 2
    r = y.cli("user", "add", "dave@example.test")   # no tty, no --password-stdin
    assert r.returncode == 1 and "password" in r.stderr


def test_new_password_uses_strong_scheme(instance):
    y = instance
    y.cli("domain", "add", "example.test")
    add_user(y, "alice@example.test")
    db = sqlite3.connect(os.path.join(y.dir, "directory.db"))
    (pw,) = db.execute("SELECT password FROM virtual_users WHERE email='alice@example.test'").fetchone()
    assert pw.startswith("{CRYPT}$y$")   # yescrypt, readable by Dovecot on Debian too
    assert PASSWORD not in pw


def test_auth_test_through_daemon_and_direct(populated):
    y = populated
    r = y.cli("auth", "test", "alice@example.test", PASSWORD)
    assert r.returncode == 0, r.stderr
    assert "auth succeeded" in r.stdout and "via=daemon" in r.stdout
    r = y.cli("auth", "test", "alice@example.test", PASSWORD)
    assert "(cached)" in r.stdout
    r = y.cli("auth", "test", "alice@example.test", "wrong")
    assert r.returncode == 1 and "auth failed" in r.stdout and "mismatch" in r.stdout
    r = y.cli("auth", "test", "nobody@example.test", "x")
    assert r.returncode == 1 and "no such user" in r.stdout
    r = y.cli("auth", "test", "alice@example.test", "--password-stdin", input=PASSWORD + "\n")
    assert r.returncode == 0
    r = y.cli("auth", "test", "--direct", "alice@example.test", PASSWORD)
    assert r.returncode == 0 and "via=directory" in r.stdout
    # a password change invalidates the cached entry at once
    assert y.cli("user", "passwd", "alice@example.test", "--password-stdin", input="newpw\n").returncode == 0
    assert y.cli("auth", "test", "alice@example.test", PASSWORD).returncode == 1
    assert y.cli("auth", "test", "alice@example.test", "newpw").returncode == 0
    # passwords and AUTH payloads never reach the log
    log = y.read_log()
    assert "auth user=alice@example.test result=ok" in log
    for secret in (PASSWORD, "newpw", "bobpw"):
        assert secret not in log


def test_classic_hashes_verify(populated):
    """Hashes written by the classic tutorial tools work unchanged."""
    y = populated
    db = sqlite3.connect(os.path.join(y.dir, "directory.db"))
    crypt6 = subprocess.run(["openssl", "passwd", "-6", "-salt", "abcdefgh", "classic"],
                            capture_output=True, text=True, check=True).stdout.strip()
    db.execute("INSERT INTO virtual_users(domain_id, password, email) VALUES "
               "((SELECT id FROM virtual_domains WHERE name='example.test'), ?, 'old1@example.test')",
               ("{SHA512-CRYPT}" + crypt6,))
    db.execute("INSERT INTO virtual_users(domain_id, password, email) VALUES "
               "((SELECT id FROM virtual_domains WHERE name='example.test'), ?, 'old2@example.test')",
               (crypt6,))   # no prefix: default_pass_scheme = CRYPT
    db.commit()
    assert y.cli("auth", "test", "old1@example.test", "classic").returncode == 0
    assert y.cli("auth", "test", "old2@example.test", "classic").returncode == 0
    assert y.cli("auth", "test", "old2@example.test", "classic2").returncode == 1


def test_lookups(populated):
    y = populated
    assert y.cli("alias", "add", "@other.test", "bob@example.test").returncode == 0
    assert y.cli("alias", "add", "team@example.test", "alice@example.test").returncode == 0
    assert y.cli("alias", "add", "team@example.test", "crew@example.test").returncode == 0
    assert y.cli("alias", "add", "crew@example.test", "bob@example.test").returncode == 0
    assert y.cli("alias", "add", "crew@example.test", "friend@remote.example").returncode == 0
    for direct in ([], ["--direct"]):
        def lk(*a):
            return y.cli("lookup", *a, *direct)
        r = lk("domain", "example.test")
        assert r.returncode == 0 and r.stdout.strip() == "example.test"
        assert lk("domain", "nope.test").returncode == 1
        r = lk("mailbox", "ALICE@example.test")
        assert r.returncode == 0 and r.stdout.strip() == "alice@example.test"
        assert lk("mailbox", "carol@example.test").returncode == 1
        # catch-all
        r = lk("alias", "anyone@other.test")
        assert r.returncode == 0 and r.stdout.split() == ["bob@example.test"]
        # plus-address goes to the base mailbox
        r = lk("alias", "alice+lists@example.test")
        assert r.returncode == 0 and r.stdout.split() == ["alice@example.test"]
        # alias chain with a remote destination, deduplicated
        r = lk("alias", "team@example.test")
        assert r.returncode == 0
        assert sorted(r.stdout.splitlines()) == ["alice@example.test", "bob@example.test",
                                                 "friend@remote.example (remote)"]
        assert lk("alias", "carol@example.test").returncode == 1


def test_alias_loop(populated):
    y = populated
    assert y.cli("alias", "add", "a@example.test", "b@example.test").returncode == 0
    r = y.cli("alias", "add", "b@example.test", "a@example.test")
    assert r.returncode == 1 and "loop" in r.stderr
    # a loop written into the database behind our back is caught at lookup
    db = sqlite3.connect(os.path.join(y.dir, "directory.db"))
    db.execute("INSERT INTO virtual_aliases(domain_id, source, destination) VALUES "
               "((SELECT id FROM virtual_domains WHERE name='example.test'), 'b@example.test', 'a@example.test')")
    db.commit()
    for direct in ([], ["--direct"]):
        r = y.cli("lookup", "alias", "a@example.test", *direct)
        assert r.returncode == 1 and "loop" in r.stderr


def test_alias_list_and_del(populated):
    y = populated
    y.cli("alias", "add", "x@example.test", "alice@example.test")
    y.cli("alias", "add", "x@example.test", "bob@example.test")
    assert "x@example.test -> bob@example.test" in y.cli("alias", "list").stdout
    assert y.cli("alias", "del", "x@example.test", "bob@example.test").returncode == 0
    assert "x@example.test -> bob@example.test" not in y.cli("alias", "list").stdout
    assert y.cli("alias", "del", "x@example.test").returncode == 0
    assert "x@example.test" not in y.cli("alias", "list").stdout


def test_user_del_purge(populated):
    y = populated
    maildir = os.path.join(y.dir, "mail", "example.test", "bob")
    os.makedirs(os.path.join(maildir, "new"))
    open(os.path.join(maildir, "new", "1.msg"), "w").write("x")
    assert y.cli("user", "del", "bob@example.test").returncode == 0
    assert os.path.exists(maildir)   # without --purge mail stays
    add_user(y, "bob@example.test")
    assert y.cli("user", "del", "bob@example.test", "--purge").returncode == 0
    assert not os.path.exists(maildir)
    assert "bob@example.test" not in y.cli("user", "list").stdout


def test_directory_unavailable_is_temporary(populated):
    y = populated
    db = os.path.join(y.dir, "directory.db")
    os.rename(db, db + ".away")
    with open(db, "wb") as f:
        f.write(b"this is not a database" * 100)
    os.chmod(db, 0o644)
    # the auth role's open handle keeps working until a failure; force a reopen
    os.kill(y.roles()["auth"][0], 9)
    y.wait_for(y.all_running, what="auth back")
    r = y.cli("lookup", "mailbox", "alice@example.test")
    assert r.returncode == 75 and "temporary" in r.stderr
    r = y.cli("auth", "test", "alice@example.test", PASSWORD)
    assert r.returncode == 75
    os.replace(db + ".away", db)
    y.wait_for(lambda: y.cli("lookup", "mailbox", "alice@example.test").returncode == 0,
               what="directory back")


def test_help_everywhere(instance):
    y = instance
    r = y.cli("help")
    assert r.returncode == 0 and "domain add" in r.stdout
    cmds = [["serve"], ["status"], ["reload"], ["stop"], ["config", "check"], ["config", "show"],
            ["config", "doc"], ["domain", "add"], ["domain", "list"], ["domain", "del"],
            ["user", "add"], ["user", "passwd"], ["user", "list"], ["user", "del"],
            ["alias", "add"], ["alias", "list"], ["alias", "del"], ["auth", "test"], ["lookup"],
            ["version"], ["help"]]
    for c in cmds:
        r = y.cli(*c, "--help")
        assert r.returncode == 0 and "usage: youju" in r.stdout, c
    for group in ("domain", "user", "alias", "config", "auth"):
        r = y.cli(group, "--help")
        assert r.returncode == 0 and f"youju [-c FILE] {group} " in r.stdout
    r = y.cli("frobnicate")
    assert r.returncode == 2 and "unknown command" in r.stderr
    r = y.cli("user")
    assert r.returncode == 2
