"""``esimflow console``: what it refuses before serving anything, and ``console account``."""
from __future__ import annotations

from click.testing import CliRunner

from esimcli.console.accounts import read_accounts
from esimcli.console_cmd import is_loopback
from esimcli.main import main


def run(*args: str, env: dict | None = None, stdin: str | None = None):
    clean = {"ESIMFLOW_CONSOLE_TOKEN": None, "ESIMFLOW_CONSOLE_VIEWER_TOKEN": None, "ESIMFLOW_CONSOLE_ACCOUNTS": None}
    return CliRunner().invoke(main, list(args), env={**clean, **(env or {})}, input=stdin)


def test_serving_beyond_loopback_needs_https(tmp_path):
    answer = run("console", "--host", "0.0.0.0", env={"ESIMFLOW_CONSOLE_TOKEN": "t" * 30})
    assert answer.exit_code == 2 and "needs --https-cert and --https-key" in answer.output
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10") and not is_loopback("console.example")


def test_a_console_without_any_account_or_token_does_not_start(tmp_path):
    answer = run("console")
    assert answer.exit_code == 2 and "no console account" in answer.output
    short = run("console", env={"ESIMFLOW_CONSOLE_TOKEN": "short"})
    assert short.exit_code == 2 and "at least 24 characters" in short.output


def test_console_account_writes_a_hash_and_replaces_an_account(tmp_path):
    accounts = tmp_path / "accounts"
    assert run("console", "account", "alice", "--role", "operator", "--accounts", str(accounts),
               "--password-stdin", stdin="first password 1\n").exit_code == 0
    assert run("console", "account", "bob", "--accounts", str(accounts), "--password-stdin",
               stdin="bobs password 22\n").exit_code == 0
    assert run("console", "account", "alice", "--role", "viewer", "--accounts", str(accounts),
               "--password-stdin", stdin="second password 2\n").exit_code == 0
    text = accounts.read_text()
    assert "password" not in text and oct(accounts.stat().st_mode)[-3:] == "600"
    assert [(a.name, a.role) for a in read_accounts(accounts)] == [("bob", "viewer"), ("alice", "viewer")]
    weak = run("console", "account", "carol", "--accounts", str(accounts), "--password-stdin", stdin="short\n")
    assert weak.exit_code == 2 and "at least 10 characters" in weak.output
