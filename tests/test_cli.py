"""The ``tsudoi`` command as an operator uses it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson

from tests.support.client import Users
from tests.support.redis import RedisProcess
from tests.support.server import ROOT, ServerProcess, tsudoi


def test_help_lists_every_subcommand() -> None:
    out = tsudoi("--help").stdout
    assert "serve" in out and "admin" in out and "doctor" in out
    assert "invite" in tsudoi("admin", "--help").stdout
    serve = tsudoi("serve", "--help").stdout
    for option in ("--host", "--port", "--data", "--workers"):
        assert option in serve


def test_bad_settings_are_refused_in_plain_words() -> None:
    result = tsudoi("admin", "invite", env={"TSUDOI_PORT": "eighty"})
    assert result.returncode == 2
    assert "TSUDOI_PORT must be a whole number" in result.stderr


async def test_admin_invite_works_beside_a_running_server(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    public = {"TSUDOI_PUBLIC_URL": "https://tsudoi.example"}
    server = start_server(**public)
    result = tsudoi("admin", "invite", "--json", "--data", str(server.data_dir), env=public)
    assert result.returncode == 0, result.stderr
    invite = orjson.loads(result.stdout)
    assert invite["url"] == f"https://tsudoi.example/i/{invite['code']}"
    users = users_of(server)
    response = await users.signup(invite["code"], "fromcli")
    assert response.status_code == 201
    assert response.json()["user"]["following_count"] == 0  # an operator's invite has no inviter
    plain = tsudoi("admin", "invite", "--data", str(server.data_dir), env=public)
    assert plain.stdout.strip().startswith("https://tsudoi.example/i/")


def test_the_bootstrap_invite_is_printed_only_on_an_empty_database(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server()
    assert "/i/" in server.log()
    server.restart()  # still empty: a fresh one-time invite
    assert server.log().count("/i/") == 2


async def test_bootstrap_account_is_an_operator_and_restart_keeps_data(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    server = start_server()
    users = users_of(server)
    await users.new("member")
    server.restart()
    assert server.log().count("No accounts yet") == 1


def test_data_dir_from_environment(tmp_path: Path) -> None:
    result = tsudoi("admin", "invite", env={"TSUDOI_DATA_DIR": str(tmp_path / "envdata")})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "envdata" / "tsudoi.sqlite3").exists()


def test_procfile_binds_all_interfaces_on_port() -> None:
    procfile = (ROOT / "Procfile").read_text()
    assert procfile.startswith("web: tsudoi serve --host 0.0.0.0 --port $PORT")


def test_doctor_reports_a_healthy_setup(
    start_server: Callable[..., ServerProcess], redis_server: RedisProcess
) -> None:
    server = start_server()
    env = {"TSUDOI_REDIS_URL": redis_server.url}
    result = tsudoi("doctor", "--data", str(server.data_dir), env=env)
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].startswith("bus") and "ok" in lines[0] and "Redis 7" in lines[0]
    assert lines[1].startswith("storage") and "schema 7" in lines[1] and "journal wal" in lines[1]


def test_doctor_says_what_is_wrong(tmp_path: Path) -> None:
    env = {"TSUDOI_REDIS_URL": "redis://127.0.0.1:1/0"}  # nothing listens on port 1
    result = tsudoi("doctor", "--data", str(tmp_path / "missing"), env=env)
    assert result.returncode == 1
    bus, storage = result.stdout.splitlines()
    assert "PROBLEM" in bus and "does not answer" in bus
    assert "PROBLEM" in storage and "no SQLite database" in storage


async def test_admin_seed_makes_working_accounts_and_a_follow_graph(
    start_server: Callable[..., ServerProcess],
) -> None:
    from tests.support.client import Client

    server = start_server()
    out = server.data_dir.parent / "seeded.json"
    result = tsudoi(
        "admin",
        "seed",
        "--users",
        "6",
        "--star",
        "--degree",
        "2",
        "--data",
        str(server.data_dir),
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert out.stat().st_mode & 0o777 == 0o600  # session tokens are secrets
    assert "tsd_" not in result.stdout
    seeded = orjson.loads(out.read_bytes())
    accounts, follows = seeded["accounts"], {tuple(pair) for pair in seeded["follows"]}
    assert len(accounts) == 6 and {(n, 0) for n in range(1, 6)} <= follows
    assert all(sum(1 for f, _ in follows if f == n) >= 2 for n in range(6))  # the random degree
    star = await Client.login(server, accounts[0]["token"])
    fan = await Client.login(server, accounts[1]["token"])
    post = (await star.call("post.create", text="seeded and live"))["post"]
    assert (await fan.next_event("post.created"))["data"]["post"]["id"] == post["id"]
