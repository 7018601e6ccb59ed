"""youju config check/show and the generated reference."""
import os
import subprocess

from conftest import TOP, BINARIES


def test_config_check_ok_and_errors(instance):
    y = instance
    r = y.cli("config", "check")
    assert r.returncode == 0 and "ok" in r.stdout
    y.write_config("smtp_lisen = 1\nmessage_size = 3\nauth_cache_ttl = 5 parsecs\nalias_max_depth = 1000\n")
    r = y.cli("config", "check")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    n = len(y.config_text().splitlines())
    assert f"{y.conf}:{n + 1}" in r.stderr and "smtp_lisen" in r.stderr
    assert f"{y.conf}:{n + 3}" in r.stderr and "auth_cache_ttl" in r.stderr
    assert f"{y.conf}:{n + 4}" in r.stderr and "alias_max_depth" in r.stderr
    assert len(lines) >= 4
    r = subprocess.run([y.binary, "-c", "/nonexistent/youju.conf", "config", "check"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "/nonexistent/youju.conf" in r.stderr


def test_config_show(instance):
    y = instance
    y.write_config("auth_cache_ttl = 90s\n")
    full = y.cli("config", "show").stdout
    assert "auth_cache_ttl = " in full and "recipient_delimiter = " in full
    changed = y.cli("config", "show", "--changed").stdout
    assert "recipient_delimiter" not in changed
    assert "auth_cache_ttl = 90s" in changed
    assert f"state_dir = {y.dir}" in changed


def test_docs_config_md_is_current():
    r = subprocess.run([BINARIES["plain"], "config", "doc"], capture_output=True, text=True, check=True)
    with open(os.path.join(TOP, "docs", "config.md")) as f:
        assert f.read() == r.stdout, "docs/config.md is stale: run `make docs`"
