"""The daemon: roles, status, reload, restart of a dead role, graceful stop,
privilege separation, control socket access."""
import os
import signal
import socket
import subprocess
import time

import pytest


def test_status_lists_all_roles(youju):
    out = youju.status()
    assert "master pid=" in out
    roles = youju.roles()
    assert set(roles) == {"front", "auth", "queue", "mail"}
    for name, (pid, state, restarts) in roles.items():
        assert state == "running" and restarts == 0
        assert os.path.exists(f"/proc/{pid}")
    # per-role status lines, including connection counts from front
    assert "connections current=" in out
    assert "directory=open" in out


def test_front_answers_with_protocol_reply(youju):
    for service, greeting in (("smtp", b"220 mx.example.test ESMTP"), ("submission", b"421 4.3.2"),
                              ("imap", b"* OK [CAPABILITY IMAP4rev1"), ("pop3", b"+OK youju POP3 ready")):
        with socket.create_connection(("127.0.0.1", youju.ports[service]), timeout=5) as s:
            assert s.recv(200).startswith(greeting)
    youju.wait_for(lambda: "smtp=1" in youju.status() and "submission=1" in youju.status(),
                   what="connections counted")


def test_reload_good_and_bad(youju):
    youju.write_config("log_level = debug\n")
    r = youju.cli("reload")
    assert r.returncode == 0, r.stderr
    assert "reloaded" in r.stdout
    # a broken config is rejected with file:line and key; the old one keeps running
    youju.write_config("log_level = debug\nsmtp_lisen = 1\nauth_cache_ttl = forever\n")
    r = youju.cli("reload")
    assert r.returncode != 0
    assert f"{youju.conf}:" in r.stderr and "smtp_lisen" in r.stderr and "auth_cache_ttl" in r.stderr
    assert youju.all_running()
    # the same through SIGHUP: logged, daemon keeps running
    pid = int(open(os.path.join(youju.dir, "youju.pid")).read())
    os.kill(pid, signal.SIGHUP)
    youju.wait_for(lambda: youju.read_log().count("reload rejected") >= 2, what="SIGHUP rejection logged")
    assert youju.all_running()
    youju.write_config()
    os.kill(pid, signal.SIGHUP)
    youju.wait_for(lambda: youju.read_log().count("configuration reloaded") >= 2, what="SIGHUP reload")


def test_reload_non_reloadable_setting_kept(youju_plain):
    y = youju_plain
    y.write_config("mail_dir = /nonexistent/x\n")
    r = y.cli("reload")
    assert r.returncode == 0
    assert "mail_dir" in r.stdout   # named as needing a restart
    assert f"mail_dir={y.dir}/mail" in y.status()


def test_killed_role_is_restarted(youju):
    for role in ("front", "auth"):
        old_pid = youju.roles()[role][0]
        os.kill(old_pid, signal.SIGKILL)
        youju.wait_for(lambda: youju.roles().get(role, (old_pid,))[0] not in (0, old_pid)
                       and youju.all_running(), what=f"{role} restarted")
        assert youju.roles()[role][2] == 1
        assert f"role={role} pid={old_pid} killed by signal 9; restarting in" in youju.read_log()
    # the restarted auth role still answers through the new peer channels
    assert youju.cli("lookup", "domain", "nope.example").returncode == 1


def test_sigterm_stops_cleanly(youju):
    pids = [p for p, _, _ in youju.roles().values()]
    youju.proc.send_signal(signal.SIGTERM)
    assert youju.proc.wait(15) == 0
    for p in pids:
        assert not os.path.exists(f"/proc/{p}") or open(f"/proc/{p}/stat").read().split()[2] == "Z"
    assert not os.path.exists(os.path.join(youju.dir, "youju.pid"))
    assert not os.path.exists(os.path.join(youju.dir, "control.sock"))


def test_stop_command(youju_plain):
    r = youju_plain.cli("stop")
    assert r.returncode == 0 and "stopping" in r.stdout
    assert youju_plain.proc.wait(15) == 0
    r = youju_plain.cli("status")
    assert r.returncode != 0 and "not running" in r.stderr


def test_second_instance_refused(youju_plain):
    r = subprocess.run([youju_plain.binary, "-c", youju_plain.conf, "serve"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode != 0


@pytest.mark.skipif(os.geteuid() != 0, reason="privilege separation needs root")
def test_roles_run_as_their_users_and_front_is_chrooted(youju_plain):
    import pwd
    want = {"front": "youju", "auth": "youju-auth", "queue": "youju-queue", "mail": "vmail"}
    for role, (pid, _, _) in youju_plain.roles().items():
        uids = [l for l in open(f"/proc/{pid}/status") if l.startswith("Uid:")][0].split()[1:]
        assert {int(u) for u in uids} == {pwd.getpwnam(want[role]).pw_uid}, role
    front = youju_plain.roles()["front"][0]
    assert os.readlink(f"/proc/{front}/root") == os.path.join(youju_plain.dir, "empty")
    for role in ("auth", "queue", "mail"):
        assert os.readlink(f"/proc/{youju_plain.roles()[role][0]}/root") == "/"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")
def test_control_socket_refuses_other_users(youju_plain):
    r = subprocess.run(["runuser", "-u", "nobody", "--", youju_plain.binary, "-c",
                        youju_plain.conf, "status"], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    assert "master pid" not in r.stdout


def test_broken_config_refuses_start(instance):
    instance.write_config("max_connections = 0\n")
    r = subprocess.run([instance.binary, "-c", instance.conf, "serve"], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode != 0
    assert f"{instance.conf}:" in r.stderr and "max_connections" in r.stderr
