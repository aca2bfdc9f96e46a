"""Account rules that need no storage: age, handles, passwords, display names."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from protocol.errors import ErrorCode, ProtocolError
from server.domain import rules

TODAY = dt.date(2026, 11, 21)


def code_of(call: Callable[..., object], *args: object) -> ErrorCode:
    with pytest.raises(ProtocolError) as caught:
        call(*args)
    return caught.value.code


def test_turning_18_today_is_accepted() -> None:
    assert rules.birth_date("2008-11-21", TODAY) == dt.date(2008, 11, 21)


def test_turning_18_tomorrow_is_underage() -> None:
    with pytest.raises(ProtocolError) as caught:
        rules.birth_date("2008-11-22", TODAY)
    assert caught.value.code is ErrorCode.UNDERAGE
    assert caught.value.path == "$.birth_date"


def test_born_today_is_underage_not_invalid() -> None:
    assert code_of(rules.birth_date, "2026-11-21", TODAY) is ErrorCode.UNDERAGE


def test_leap_day_birthday_is_1_march_in_a_common_year() -> None:
    # Born 29 February 2008; 2026 is a common year, so the 18th birthday is 1 March 2026.
    assert code_of(rules.birth_date, "2008-02-29", dt.date(2026, 2, 28)) is ErrorCode.UNDERAGE
    assert rules.birth_date("2008-02-29", dt.date(2026, 3, 1)) == dt.date(2008, 2, 29)


@pytest.mark.parametrize(
    "text",
    [
        "1990-13-01",
        "1990-02-30",
        "90-01-01",
        "",
        "1990-1-1",
        "1990/01/01",
        "1990-01-01T00:00",
        " 1990-01-01",
        "１９９０-０１-０１",
    ],
)
def test_malformed_birth_dates_are_invalid(text: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        rules.birth_date(text, TODAY)
    assert caught.value.code is ErrorCode.BIRTH_DATE_INVALID
    assert caught.value.path == "$.birth_date"


@pytest.mark.parametrize("text", ["2026-11-22", "2030-01-01"])
def test_future_birth_dates_are_invalid(text: str) -> None:
    assert code_of(rules.birth_date, text, TODAY) is ErrorCode.BIRTH_DATE_INVALID


@pytest.mark.parametrize("handle", ["abc", "a" * 20, "alice_99", "___", "A_B_C", "User2026"])
def test_valid_handles(handle: str) -> None:
    assert rules.check_handle(handle) == handle


@pytest.mark.parametrize(
    "handle",
    ["ab", "a" * 21, "ユーザー", "café", "alice!", "al ice", "alice\n", "", "ａｂｃ"],
)
def test_invalid_handles(handle: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        rules.check_handle(handle)
    assert caught.value.code is ErrorCode.HANDLE_INVALID
    assert caught.value.path == "$.handle"


def test_password_of_9_characters_is_too_short() -> None:
    assert code_of(rules.check_password, "x" * 9) is ErrorCode.PASSWORD_TOO_SHORT


def test_password_of_10_characters_is_accepted() -> None:
    assert rules.check_password("x" * 10) == "x" * 10


def test_password_of_1024_characters_is_accepted_and_1025_too_long() -> None:
    assert rules.check_password("x" * 1024) == "x" * 1024
    assert code_of(rules.check_password, "x" * 1025) is ErrorCode.PASSWORD_TOO_LONG


def test_password_error_names_the_field_given() -> None:
    with pytest.raises(ProtocolError) as caught:
        rules.check_password("short", "$.new_password")
    assert caught.value.path == "$.new_password"


@pytest.mark.parametrize("name", ["", "   ", "\u3000", "\u200b", "\n"])
def test_blank_display_name_refused(name: str) -> None:
    assert code_of(rules.display_name, name) is ErrorCode.DISPLAY_NAME_INVALID


def test_display_name_of_50_characters_accepted_and_51_refused() -> None:
    assert rules.display_name("名" * 50) == "名" * 50
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert rules.display_name(family * 50) == family * 50
    assert code_of(rules.display_name, "名" * 51) is ErrorCode.DISPLAY_NAME_INVALID


@pytest.mark.parametrize("name", ["Alice\nBob", "Alice\tBob", "Alice\x00", "Alice\rBob"])
def test_display_name_with_line_breaks_or_controls_refused(name: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        rules.display_name(name)
    assert caught.value.code is ErrorCode.DISPLAY_NAME_INVALID
    assert caught.value.path == "$.display_name"


def test_display_name_is_nfc_and_stripped() -> None:
    assert rules.display_name("  Cafe\u0301 \u304b\u3099  ") == "Café が"
    assert rules.display_name("\u3000山田 太郎\u3000") == "山田 太郎"
