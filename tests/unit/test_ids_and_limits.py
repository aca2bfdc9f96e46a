"""Ids, rate limits and settings: the small parts everything else leans on."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.config import ConfigError, Settings
from server.ids import ALPHABET, IdGenerator, encode, floor_id, timestamp_ms
from server.ratelimit import RateLimiter, TokenBucket

NOW_MS = 1_800_000_000_000
CROCKFORD = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")

# --- ids ---------------------------------------------------------------------------------------


def test_alphabet_is_crockford_base32() -> None:
    assert set(ALPHABET) == CROCKFORD
    assert len(ALPHABET) == 32
    assert list(ALPHABET) == sorted(ALPHABET)  # so ids sort as strings in numeric order


@given(st.integers(min_value=0, max_value=2**140), st.integers(min_value=0, max_value=28))
def test_encode_writes_the_low_bits_as_base32_digits_most_significant_first(value: int, length: int) -> None:
    digits = [ALPHABET[(value >> (5 * place)) & 31] for place in reversed(range(length))]
    assert encode(value, length) == "".join(digits)


@given(st.text(alphabet=ALPHABET, max_size=30))
def test_a_timestamp_is_the_value_of_the_first_ten_digits(item_id: str) -> None:
    value = 0
    for char in item_id[:10]:
        value = value * 32 + ALPHABET.index(char)
    assert timestamp_ms(item_id) == value


@pytest.mark.parametrize("bad", ["01ABCDEFGi00", "012345678O", "01 3456789", "ÄBCDEFGHJK"])
def test_a_timestamp_is_read_only_from_the_alphabet(bad: str) -> None:
    with pytest.raises(ValueError):
        timestamp_ms(bad)


def test_ids_are_26_crockford_characters() -> None:
    ids = IdGenerator()
    for _ in range(100):
        item_id = ids.new()
        assert len(item_id) == 26
        assert set(item_id) <= CROCKFORD


def test_ids_strictly_increase_with_a_fixed_clock() -> None:
    ids = IdGenerator()
    made = [ids.new(now_ms=NOW_MS) for _ in range(10_000)]
    assert all(a < b for a, b in itertools.pairwise(made))
    assert len(set(made)) == len(made)


def test_ids_strictly_increase_when_the_clock_goes_backwards() -> None:
    ids = IdGenerator()
    made = [ids.new(now_ms=NOW_MS - n) for n in range(10_000)]
    assert all(a < b for a, b in itertools.pairwise(made))
    assert all(len(item_id) == 26 for item_id in made)


def test_ids_strictly_increase_with_the_real_clock() -> None:
    ids = IdGenerator()
    made = [ids.new() for _ in range(10_000)]
    assert all(a < b for a, b in itertools.pairwise(made))


@pytest.mark.parametrize("ms", [0, 1, NOW_MS, 2**48 - 1])
def test_timestamp_of_an_id_is_the_time_it_was_made(ms: int) -> None:
    assert timestamp_ms(IdGenerator().new(now_ms=ms)) == ms


def test_ids_made_later_sort_after() -> None:
    ids = IdGenerator()
    assert ids.new(now_ms=NOW_MS) < IdGenerator().new(now_ms=NOW_MS + 1)


@pytest.mark.parametrize("ms", [1, NOW_MS, 2**48 - 1])
def test_floor_id_sorts_between_ids_of_the_previous_and_this_millisecond(ms: int) -> None:
    floor = floor_id(ms)
    assert len(floor) == 26
    assert timestamp_ms(floor) == ms
    for _ in range(200):
        assert IdGenerator().new(now_ms=ms - 1) < floor <= IdGenerator().new(now_ms=ms)


# --- rate limits -------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.ms = 0

    def __call__(self) -> float:
        return self.ms / 1000


def test_burst_is_allowed_then_refused_with_a_positive_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(burst=3, refill_ms=1000, clock=clock)
    assert [limiter.hit("k") for _ in range(3)] == [0, 0, 0]
    wait = limiter.hit("k")
    assert 0 < wait <= 1000


def test_refused_hits_are_not_counted() -> None:
    clock = FakeClock()
    limiter = RateLimiter(burst=1, refill_ms=1000, clock=clock)
    assert limiter.hit("k") == 0
    for _ in range(5):
        assert limiter.hit("k") > 0
    clock.ms = 1000
    assert limiter.hit("k") == 0


def test_a_token_comes_back_after_refill_ms() -> None:
    clock = FakeClock()
    limiter = RateLimiter(burst=2, refill_ms=500, clock=clock)
    assert limiter.hit("k") == 0 and limiter.hit("k") == 0
    clock.ms = 200
    assert limiter.hit("k") == 300
    clock.ms = 500
    assert limiter.hit("k") == 0
    assert limiter.hit("k") > 0


def test_wait_counts_down_as_time_passes() -> None:
    clock = FakeClock()
    limiter = RateLimiter(burst=1, refill_ms=3000, clock=clock)
    limiter.hit("k")
    assert limiter.check("k") == 3000
    clock.ms = 1000
    assert limiter.check("k") == 2000
    clock.ms = 2999
    assert limiter.check("k") == 1


def test_bucket_refills_no_further_than_the_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(burst=2, refill_ms=100, clock=clock)
    limiter.hit("k")
    clock.ms = 1_000_000
    assert [limiter.hit("k") for _ in range(2)] == [0, 0]
    assert limiter.hit("k") > 0


def test_check_does_not_consume() -> None:
    clock = FakeClock()
    limiter = RateLimiter(burst=1, refill_ms=1000, clock=clock)
    for _ in range(10):
        assert limiter.check("k") == 0
    assert limiter.hit("k") == 0
    assert limiter.check("k") > 0
    assert limiter.check("k") > 0


def test_keys_have_separate_buckets() -> None:
    limiter = RateLimiter(burst=1, refill_ms=1000, clock=FakeClock())
    assert limiter.hit("alice") == 0
    assert limiter.hit("alice") > 0
    assert limiter.hit("bob") == 0


def test_per_window_allows_count_at_once_and_refills_over_the_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter.per_window(5, 60_000)
    limiter._clock = clock  # per_window takes no clock: swap the fake one in before any hit
    assert [limiter.hit("k") for _ in range(5)] == [0] * 5
    assert limiter.hit("k") == 12_000
    clock.ms = 12_000
    assert limiter.hit("k") == 0
    assert limiter.hit("k") > 0


@pytest.mark.parametrize(("burst", "refill_ms"), [(0, 100), (1, 0), (-1, 100)])
def test_limiter_refuses_non_positive_parameters(burst: int, refill_ms: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(burst=burst, refill_ms=refill_ms)


# --- settings ----------------------------------------------------------------------------------


def test_defaults_without_environment() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.heartbeat_timeout_ms > settings.heartbeat_interval_ms


def test_int_settings_are_overridden_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "TSUDOI_PORT": "9001",
            "TSUDOI_SEND_QUEUE_MAX": "64",
            "TSUDOI_HEARTBEAT_INTERVAL_MS": "1000",
            "TSUDOI_HEARTBEAT_TIMEOUT_MS": "3000",
            "TSUDOI_MAX_UNUSED_INVITES": "2",
        }
    )
    assert settings.port == 9001
    assert settings.send_queue_max == 64
    assert (settings.heartbeat_interval_ms, settings.heartbeat_timeout_ms) == (1000, 3000)
    assert settings.max_unused_invites == 2


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("YES", True), ("on", True), ("0", False), ("false", False), ("no", False)],
)
def test_bool_settings_are_overridden_from_the_environment(raw: str, expected: bool) -> None:
    assert Settings.from_env({"TSUDOI_SECURE_COOKIES": raw}).secure_cookies is expected


@pytest.mark.parametrize("raw", ["ture", "2", "enabled"])
def test_a_mistyped_bool_is_refused_not_read_as_off(raw: str) -> None:
    with pytest.raises(ConfigError, match="TSUDOI_SECURE_COOKIES"):
        Settings.from_env({"TSUDOI_SECURE_COOKIES": raw})


def test_path_setting_is_overridden_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env({"TSUDOI_DATA_DIR": str(tmp_path / "data")})
    assert settings.data_dir == tmp_path / "data"
    assert settings.database_path == tmp_path / "data" / "tsudoi.sqlite3"


def test_origins_are_a_tuple_of_trimmed_entries() -> None:
    settings = Settings.from_env({"TSUDOI_ALLOWED_ORIGINS": " https://a.example , https://b.example,, "})
    assert settings.allowed_origins == ("https://a.example", "https://b.example")


def test_string_settings_and_empty_values() -> None:
    settings = Settings.from_env(
        {"TSUDOI_HOST": "0.0.0.0", "TSUDOI_PORT": "", "TSUDOI_SQLITE_SYNCHRONOUS": "normal"}
    )
    assert settings.host == "0.0.0.0"
    assert settings.port == 8000  # empty means unset
    assert settings.sqlite_synchronous == "normal"


@pytest.mark.parametrize("raw", ["abc", "1.5", "8000x", "1e3", "0x40"])
def test_bad_ints_raise_config_error(raw: str) -> None:
    with pytest.raises(ConfigError, match="TSUDOI_SEND_QUEUE_MAX"):
        Settings.from_env({"TSUDOI_SEND_QUEUE_MAX": raw})


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("TSUDOI_PORT", "-1"),
        ("TSUDOI_SEND_QUEUE_MAX", "15"),
        ("TSUDOI_HEARTBEAT_INTERVAL_MS", "99"),
        ("TSUDOI_AUTH_TIMEOUT_MS", "0"),
        ("TSUDOI_POST_BURST", "0"),
        ("TSUDOI_RESUME_MAX_ITEMS", "-5"),
    ],
)
def test_out_of_range_ints_raise_config_error(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: raw})


@pytest.mark.parametrize("raw", ["65536", "99999", "0"])
def test_port_outside_1_to_65535_raises_config_error(raw: str) -> None:
    # 65536 "cannot work" (ConfigError's own definition) and would only fail later, when uvicorn
    # tries to bind; 0 would bind a port nobody chose, which the invite links could not name.
    with pytest.raises(ConfigError, match="TSUDOI_PORT must be between 1 and 65535"):
        Settings.from_env({"TSUDOI_PORT": raw})


def test_port_bounds_are_accepted() -> None:
    assert Settings.from_env({"TSUDOI_PORT": "1"}).port == 1
    assert Settings.from_env({"TSUDOI_PORT": "65535"}).port == 65535


def test_overrides_are_validated_like_the_environment() -> None:
    with pytest.raises(ConfigError, match="TSUDOI_PORT"):
        Settings().with_overrides(port=70000)
    assert Settings().with_overrides(port=None, host="0.0.0.0").port == 8000


def test_every_int_setting_has_an_upper_bound() -> None:
    # A TTL past 2**53 would reach browsers inexactly and overflow SQLite once added to a clock.
    with pytest.raises(ConfigError, match="TSUDOI_SESSION_TTL_MS"):
        Settings.from_env({"TSUDOI_SESSION_TTL_MS": str(2**53)})
    assert Settings.from_env({"TSUDOI_SESSION_TTL_MS": str(2**53 - 1)}).session_ttl_ms == 2**53 - 1


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("TSUDOI_REDIS_URL", "http://redis.internal:6379/0"),
        ("TSUDOI_REDIS_URL", "redis.internal:6379"),
        ("TSUDOI_MONGODB_URL", "mongo://db1/tsudoi"),
        ("TSUDOI_MONGODB_URL", "postgres://u:secret@db1/x"),
        ("TSUDOI_PUBLIC_URL", "tsudoi.internal"),
        ("TSUDOI_PUBLIC_URL", "ws://tsudoi.internal"),
    ],
)
def test_a_url_of_the_wrong_kind_is_refused_without_echoing_it(name: str, url: str) -> None:
    with pytest.raises(ConfigError, match=f"{name} must start with") as refused:
        Settings.from_env({name: url})
    assert "secret" not in str(refused.value) and "internal" not in str(refused.value)


@pytest.mark.parametrize(
    "env",
    [
        {"TSUDOI_REDIS_URL": "rediss://:pw@cache:6380/1", "TSUDOI_MONGODB_URL": "mongodb+srv://c.example/x"},
        {
            "TSUDOI_REDIS_URL": "unix:///run/redis.sock",
            "TSUDOI_MONGODB_URL": "mongodb://db1,db2/?replicaSet=rs",
        },
    ],
)
def test_urls_of_the_right_kind_are_accepted(env: dict[str, str]) -> None:
    Settings.from_env(env)


@pytest.mark.parametrize(
    "env",
    [{"TSUDOI_ARGON2_PROFILE": "fast"}, {"TSUDOI_SQLITE_SYNCHRONOUS": "off"}],
)
def test_unknown_choices_raise_config_error(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env(env)


@pytest.mark.parametrize(
    "env",
    [
        {"TSUDOI_HEARTBEAT_TIMEOUT_MS": "25000"},
        {"TSUDOI_HEARTBEAT_TIMEOUT_MS": "1000"},
        {"TSUDOI_HEARTBEAT_INTERVAL_MS": "60000"},
        {"TSUDOI_HEARTBEAT_INTERVAL_MS": "5000", "TSUDOI_HEARTBEAT_TIMEOUT_MS": "5000"},
    ],
)
def test_heartbeat_timeout_must_exceed_the_interval(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="HEARTBEAT_TIMEOUT"):
        Settings.from_env(env)


def test_heartbeat_timeout_just_above_the_interval_is_accepted() -> None:
    settings = Settings.from_env(
        {"TSUDOI_HEARTBEAT_INTERVAL_MS": "5000", "TSUDOI_HEARTBEAT_TIMEOUT_MS": "5001"}
    )
    assert settings.heartbeat_timeout_ms == 5001


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TSUDOI_POST_BURST", "42")
    assert Settings.from_env().post_burst == 42


def test_a_lone_token_bucket_answers_as_the_keyed_limiter_does() -> None:
    # A connection's frame budget is a TokenBucket: the same rule as RateLimiter's, key by key.
    clock = FakeClock()
    keyed, lone = (
        RateLimiter(burst=3, refill_ms=250, clock=clock),
        TokenBucket(burst=3, refill_ms=250, clock=clock),
    )
    answers = []
    for at in (0, 0, 0, 0, 10, 100, 249, 250, 260, 600, 600, 600, 2000, 2000, 2000, 2000):
        clock.ms = at
        answers.append((keyed.hit("k"), lone.hit()))
    assert all(a == b for a, b in answers), answers
    assert [b for _, b in answers][:5] == [0, 0, 0, 250, 240]  # the burst, then a wait
