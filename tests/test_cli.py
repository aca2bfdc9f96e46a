"""The ``tsudoi`` command as an operator uses it."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import orjson
import pytest

from tests.support.client import Users
from tests.support.mongo import MongoBackend
from tests.support.redis import RedisProcess
from tests.support.server import ROOT, ServerProcess, free_port, tsudoi


def assert_one_line_error(result: CompletedProcess[str], status: int, *says: str) -> None:
    """An operator's mistake: the documented status and one line on stderr, no traceback."""
    assert result.returncode == status, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tsudoi"), result.stderr
    for words in says:
        assert words in lines[0], lines[0]


def test_help_lists_every_subcommand() -> None:
    out = tsudoi("--help").stdout
    assert "serve" in out and "admin" in out and "doctor" in out
    assert "invite" in tsudoi("admin", "--help").stdout
    serve = tsudoi("serve", "--help").stdout
    for option in ("--host", "--port", "--data", "--workers"):
        assert option in serve


def test_bad_settings_are_refused_in_plain_words() -> None:
    result = tsudoi("admin", "invite", env={"TSUDOI_PORT": "eighty"})
    assert_one_line_error(result, 2, "TSUDOI_PORT must be a whole number")


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
    env = {"TSUDOI_DATA_DIR": str(tmp_path / "envdata")}
    refused = tsudoi("admin", "invite", env=env)
    assert_one_line_error(refused, 1, "no Tsudoi database in", str(tmp_path / "envdata"), "--create")
    result = tsudoi("admin", "invite", "--create", env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "envdata" / "tsudoi.sqlite3").exists()
    assert tsudoi("admin", "invite", env=env).returncode == 0  # it is there now


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
    blobs, bus, push, storage = result.stdout.splitlines()  # sorted by name
    assert blobs.startswith("blobs") and "ok" in blobs and str(server.data_dir / "blobs") in blobs
    assert push.startswith("push") and "ok" in push and "VAPID public key B" in push
    assert bus.startswith("bus") and "ok" in bus and "Redis 7" in bus
    assert storage.startswith("storage") and "schema 17" in storage and "journal wal" in storage


def test_doctor_says_what_is_wrong(tmp_path: Path) -> None:
    env = {"TSUDOI_REDIS_URL": "redis://:hunter2@127.0.0.1:1/0"}  # nothing listens on port 1
    result = tsudoi("doctor", "--data", str(tmp_path / "missing"), env=env)
    assert result.returncode == 1
    blobs, bus, push, storage = result.stdout.splitlines()
    assert "ok" in blobs and "none stored yet" in blobs
    assert "ok" in push and "no VAPID key yet" in push  # no folder: nothing stored, not a fault
    assert "PROBLEM" in bus and "does not answer" in bus
    assert "redis://:***@127.0.0.1:1/0" in bus and "hunter2" not in result.stdout
    assert "PROBLEM" in storage and "no SQLite database" in storage
    assert not (tmp_path / "missing").exists()  # a finding, not a reason to create one


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


def test_help_states_the_exit_statuses() -> None:
    out = tsudoi("--help").stdout
    assert "exit status: 0" in out and "1 a problem" in out and "2 a usage" in out and "--debug" in out


@pytest.mark.parametrize(
    ("args", "env", "names"),
    [
        (("serve", "--port", "99999"), {}, "--port: must be between 1 and 65535, not 99999"),
        (("serve", "--port", "0"), {}, "--port: must be between 1 and 65535, not 0"),
        (("serve", "--port", "http"), {}, "--port: must be a whole number"),
        (("serve",), {"TSUDOI_PORT": "99999"}, "TSUDOI_PORT must be between 1 and 65535, not 99999"),
        (("serve", "--workers", "0"), {}, "--workers: must be between 1 and"),
        (("admin", "seed", "--users", "0", "--out", "x.json"), {}, "--users: must be between 1 and"),
        (("admin", "seed", "--users", "2", "--prefix", "a b", "--out", "x.json"), {}, "handle 'a b0'"),
        (("admin", "seed", "--users", "11", "--prefix", "x" * 19, "--out", "x.json"), {}, "x10'"),
        (("doctor",), {"TSUDOI_SEND_QUEUE_MAX": "1e3"}, "TSUDOI_SEND_QUEUE_MAX must be a whole number"),
    ],
)
def test_numbers_out_of_range_are_usage_errors(
    args: tuple[str, ...], env: dict[str, str], names: str, tmp_path: Path
) -> None:
    result = tsudoi(*args, "--data", str(tmp_path / "data"), env=env)
    assert_one_line_error(result, 2, names)
    assert not (tmp_path / "data").exists()  # refused before touching anything


@pytest.mark.parametrize("command", ["doctor", "serve"])
@pytest.mark.parametrize(
    ("variable", "url", "expected"),
    [
        ("TSUDOI_REDIS_URL", "http://:hunter2@cache.example:6379/0", "must start with redis://"),
        ("TSUDOI_REDIS_URL", "redis://cache.example:six/0", "is malformed"),
        ("TSUDOI_MONGODB_URL", "mongo://admin:hunter2@db.example/tsudoi", "must start with mongodb://"),
        ("TSUDOI_MONGODB_URL", "mongodb://db.example:twenty/tsudoi", "is malformed"),
    ],
)
def test_a_malformed_service_url_names_the_variable(
    command: str, variable: str, url: str, expected: str, tmp_path: Path
) -> None:
    result = tsudoi(command, "--data", str(tmp_path / "data"), env={variable: url})
    assert_one_line_error(result, 2, f"{variable} {expected}")
    assert "hunter2" not in result.stderr  # a URL may carry a password: never echo it


ADMIN_COMMANDS = [
    ("invite",),
    ("seed", "--users", "2", "--out", "seeded.json"),
    ("certify", "01ABCDEF"),
    ("verify", "@someone"),
    ("reports",),
    ("reports", "--resolve", "01ABCDEF"),
    ("incident", "show"),
    ("incident", "start", "--title", "停電"),
    ("incident", "end"),
    ("bot", "create", "helper_bot"),
    ("bot", "token", "helper_bot"),
]


@pytest.mark.parametrize("args", ADMIN_COMMANDS, ids=" ".join)
def test_admin_commands_refuse_a_data_folder_without_a_database(
    args: tuple[str, ...], tmp_path: Path
) -> None:
    typo = tmp_path / "tsudio-data"
    result = tsudoi("admin", *args, "--data", str(typo), cwd=tmp_path)
    assert_one_line_error(result, 1, f"no Tsudoi database in {typo}", "check --data or TSUDOI_DATA_DIR")
    assert result.stdout == ""  # no invite that no server would honour
    assert not typo.exists()


def test_admin_commands_refuse_a_mongodb_database_without_a_schema(mongo_backend: MongoBackend) -> None:
    name = mongo_backend.new_database()  # a mistyped TSUDOI_MONGODB_DATABASE, as it were
    env = {"TSUDOI_MONGODB_URL": mongo_backend.url, "TSUDOI_MONGODB_DATABASE": name}
    try:
        refused = tsudoi("admin", "reports", env=env)
        assert_one_line_error(refused, 1, f"no Tsudoi database in MongoDB ('{name}' has no schema)")
        made = tsudoi("admin", "invite", "--create", env=env)
        assert made.returncode == 0 and "/i/" in made.stdout, made.stderr
        assert tsudoi("admin", "reports", env=env).stdout == "no open reports\n"
    finally:
        asyncio.run(mongo_backend.drop_database(name))


def test_admin_invite_and_seed_create_a_database_only_when_told(tmp_path: Path) -> None:
    invite = tsudoi("admin", "invite", "--create", "--data", str(tmp_path / "a"))
    assert invite.returncode == 0 and "/i/" in invite.stdout, invite.stderr
    out = tmp_path / "seeded.json"
    seeded = tsudoi(
        "admin", "seed", "--create", "--users", "2", "--out", str(out), "--data", str(tmp_path / "b")
    )
    assert seeded.returncode == 0, seeded.stderr
    # A data folder the server would serve: the seeded accounts are there.
    assert tsudoi("admin", "verify", "@load1", "--data", str(tmp_path / "b")).returncode == 0


def test_seeding_over_existing_handles_is_refused_before_writing(tmp_path: Path) -> None:
    data, out = str(tmp_path / "data"), str(tmp_path / "seeded.json")
    first = tsudoi("admin", "seed", "--create", "--users", "3", "--out", out, "--data", data)
    assert first.returncode == 0, first.stderr
    again = tsudoi("admin", "seed", "--users", "5", "--out", out, "--data", data)
    assert_one_line_error(again, 1, "3 of the handles load0 to load4 exist already", "--prefix")
    # Nothing half-made: load3 and load4, which were free, were not created either.
    assert_one_line_error(tsudoi("admin", "verify", "@load4", "--data", data), 1, "no user @load4")
    other = tsudoi("admin", "seed", "--users", "2", "--prefix", "more", "--out", out, "--data", data)
    assert other.returncode == 0, other.stderr


def test_an_empty_report_queue_says_so(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    assert tsudoi("admin", "invite", "--create", "--data", data).returncode == 0
    plain = tsudoi("admin", "reports", "--data", data)
    assert (plain.returncode, plain.stdout) == (0, "no open reports\n")
    assert tsudoi("admin", "reports", "--all", "--data", data).stdout == "no reports\n"
    as_json = tsudoi("admin", "reports", "--json", "--data", data)
    assert as_json.returncode == 0 and orjson.loads(as_json.stdout) == []


def test_unknown_ids_and_handles_are_one_line_problems(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    assert tsudoi("admin", "invite", "--create", "--data", data).returncode == 0
    assert_one_line_error(
        tsudoi("admin", "certify", "01NOSUCH", "--data", data), 1, "no community with id 01NOSUCH"
    )
    assert_one_line_error(tsudoi("admin", "verify", "@nobody", "--data", data), 1, "no user @nobody")
    assert_one_line_error(tsudoi("admin", "bot", "token", "nobot", "--data", data), 1, "no bot @nobot")
    assert_one_line_error(
        tsudoi("admin", "reports", "--resolve", "01NO", "--data", data), 1, "no open report"
    )
    assert_one_line_error(tsudoi("admin", "incident", "end", "--data", data), 1, "no active incident")
    assert_one_line_error(tsudoi("admin", "bot", "create", "x", "--data", data), 2)  # handle too short


def test_storage_that_cannot_be_used_is_one_line(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    command: tuple[str, ...]
    for command in (("serve", "--port", str(free_port())), ("admin", "invite", "--create")):
        result = tsudoi(*command, "--data", str(not_a_folder))
        assert_one_line_error(result, 1, f"cannot use {not_a_folder} as the data folder")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "tsudoi.sqlite3").write_bytes(b"this is not a database")
    for command in (("admin", "reports"), ("serve", "--port", str(free_port()))):
        result = tsudoi(*command, "--data", str(damaged))
        assert_one_line_error(result, 1, "cannot open the storage", "file is not a database")
    # MongoDB that does not answer (nothing listens on port 1), with a short server selection.
    unreachable = {"TSUDOI_MONGODB_URL": "mongodb://127.0.0.1:1/tsudoi?serverSelectionTimeoutMS=300"}
    result = tsudoi("admin", "reports", env=unreachable)
    assert_one_line_error(result, 1, "cannot open the storage (MongoDB)")
    assert "Topology Description" not in result.stderr


def test_a_port_in_use_is_one_line_and_prints_no_invite(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    running = start_server()
    result = tsudoi("serve", "--port", str(running.port), "--data", str(tmp_path / "second"))
    assert_one_line_error(result, 1, f"cannot listen on 127.0.0.1:{running.port}", "in use")
    assert "/i/" not in result.stdout + result.stderr


async def test_sigterm_drains_and_exits_0(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    from tests.support.client import Client

    server = start_server()
    client = await Client.login(server, (await users_of(server).new()).token)
    stop = asyncio.get_running_loop().run_in_executor(None, server.stop, signal.SIGTERM)
    assert await client.closed() == 4000  # drained: the documented "going away"
    assert await stop == 0  # and a clean stop, not death by the signal (-15)
    assert "Traceback" not in server.log()
    server.start()
    assert server.stop(signal.SIGINT) == 0


def test_sigterm_stops_every_worker_cleanly_and_exits_0(tmp_path: Path, redis_server: RedisProcess) -> None:
    server = ServerProcess(tmp_path / "data", {"TSUDOI_REDIS_URL": redis_server.url}, workers=2).start()
    try:
        assert server.stop(signal.SIGTERM) == 0
    finally:
        server.stop(signal.SIGKILL)
    assert "Traceback" not in server.log() and "exited with" not in server.log()


def test_an_unexpected_error_is_one_line_unless_debugging(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The safety net under every command, exercised in process: a fault no command foresaw.
    from server import cli

    def broken(args: object) -> int:
        raise RuntimeError("a fault nobody foresaw")

    monkeypatch.setattr(cli, "_run", broken)
    monkeypatch.delenv("TSUDOI_DEBUG", raising=False)
    assert cli.main(["doctor"]) == 1
    err = capsys.readouterr().err
    assert (
        err
        == "tsudoi: unexpected error: RuntimeError: a fault nobody foresaw (run with --debug for the traceback)\n"
    )
    with pytest.raises(RuntimeError):
        cli.main(["--debug", "doctor"])
    monkeypatch.setenv("TSUDOI_DEBUG", "1")
    with pytest.raises(RuntimeError):
        cli.main(["doctor"])


def test_settings_read_at_start_up_are_checked_before_serving(tmp_path: Path) -> None:
    # Read inside the app's start-up, where uvicorn would print a traceback for them.
    bad_list = tsudoi(
        "serve",
        "--port",
        str(free_port()),
        "--data",
        str(tmp_path / "data"),
        env={"TSUDOI_WEBHOOK_ALLOWED": "10.0.0.0/33"},
    )
    assert_one_line_error(bad_list, 2, "TSUDOI_WEBHOOK_ALLOWED")
    no_scheme = tsudoi(
        "admin",
        "invite",
        "--create",
        "--data",
        str(tmp_path / "data"),
        env={"TSUDOI_PUBLIC_URL": "tsudoi.example"},
    )
    assert_one_line_error(no_scheme, 2, "TSUDOI_PUBLIC_URL must start with http:// or https://")


def test_a_node_runs_on_uvloop_unless_told_to_keep_asyncios_loop(tmp_path: Path) -> None:
    """uvloop comes with the lock (BENCHMARKS.md, issue 18); TSUDOI_EVENT_LOOP=asyncio is the way
    back, and a value it cannot run with is refused in plain words."""
    mapped = {}
    for name, env in (("auto", {}), ("asyncio", {"TSUDOI_EVENT_LOOP": "asyncio"})):
        node = ServerProcess(tmp_path / name, env).start()
        try:
            assert node.proc is not None
            mapped[name] = "/uvloop/" in Path(f"/proc/{node.proc.pid}/maps").read_text()
        finally:
            node.stop()
    assert mapped == {"auto": True, "asyncio": False}
    result = tsudoi("admin", "invite", env={"TSUDOI_EVENT_LOOP": "trio"})
    assert_one_line_error(result, 2, "TSUDOI_EVENT_LOOP must be 'auto', 'asyncio' or 'uvloop'")
