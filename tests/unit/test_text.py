"""User-perceived characters: grapheme clusters of NFC text, and the rules every post obeys."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import ErrorCode, ProtocolError
from protocol.text import (
    POST_MAX_CLUSTERS,
    POST_MAX_CODE_POINTS,
    Emotext,
    TextProblem,
    check_text,
    count_clusters,
    normalize,
)
from server.domain import rules

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 👨‍👩‍👧‍👦, 7 code points
FLAG_JP = "\U0001f1ef\U0001f1f5"  # 🇯🇵, two regional indicators
E_ACUTE_NFD = "e\u0301"
GA_NFD = "\u304b\u3099"  # か + combining voiced sound mark


def refusal(text: str) -> ErrorCode:
    with pytest.raises(ProtocolError) as caught:
        rules.post_text(text)
    assert caught.value.path == "$.text"
    return caught.value.code


def test_family_emoji_zwj_sequence_is_one_character() -> None:
    assert len(FAMILY) == 7
    assert count_clusters(FAMILY) == 1


def test_flag_is_one_character() -> None:
    assert len(FLAG_JP) == 2
    assert count_clusters(FLAG_JP) == 1
    assert count_clusters(FLAG_JP * 3) == 3


def test_letter_with_combining_accent_is_one_character() -> None:
    assert count_clusters(E_ACUTE_NFD) == 1
    assert count_clusters(normalize(E_ACUTE_NFD)) == 1
    assert normalize(E_ACUTE_NFD) == "\u00e9"


def test_japanese_in_nfd_is_normalised_to_nfc_and_counts_one() -> None:
    assert len(GA_NFD) == 2
    assert normalize(GA_NFD) == "が"
    assert count_clusters(normalize(GA_NFD)) == 1
    assert rules.post_text(GA_NFD * 3) == "ががが"


def test_post_text_returns_nfc() -> None:
    text = rules.post_text("cafe\u0301 " + GA_NFD)
    assert text == "café が"
    assert unicodedata.is_normalized("NFC", text)


def test_149_characters_accepted_and_150_refused() -> None:
    assert POST_MAX_CLUSTERS == 149
    assert check_text("あ" * 149, POST_MAX_CLUSTERS, POST_MAX_CODE_POINTS) is None
    assert rules.post_text("あ" * 149) == "あ" * 149
    assert check_text("あ" * 150, POST_MAX_CLUSTERS, POST_MAX_CODE_POINTS) is TextProblem.TOO_LONG
    assert refusal("あ" * 150) is ErrorCode.TEXT_TOO_LONG


def test_149_family_emoji_accepted_though_they_are_many_code_points() -> None:
    text = FAMILY * 149
    assert len(text) == 149 * 7
    assert check_text(text, POST_MAX_CLUSTERS, POST_MAX_CODE_POINTS) is None
    assert rules.post_text(text) == text
    assert refusal(FAMILY * 150) is ErrorCode.TEXT_TOO_LONG


def test_149_nfd_characters_are_counted_after_normalisation() -> None:
    text = GA_NFD * 149  # 298 code points before NFC, 149 after
    assert rules.post_text(text) == "が" * 149
    assert refusal(GA_NFD * 150) is ErrorCode.TEXT_TOO_LONG


@pytest.mark.parametrize(
    "text",
    ["", " ", "   ", "\u3000", "\u3000\u3000", "\u200b", " \u200b\u3000", "\n", "\n\n\n", "\t\n "],
    ids=[
        "empty",
        "space",
        "spaces",
        "ideographic-space",
        "ideographic-spaces",
        "zwsp",
        "mixed",
        "newline",
        "newlines",
        "tab-newline-space",
    ],
)
def test_blank_text_refused_as_empty(text: str) -> None:
    assert check_text(normalize(text), POST_MAX_CLUSTERS, POST_MAX_CODE_POINTS) is TextProblem.EMPTY
    assert refusal(text) is ErrorCode.TEXT_EMPTY


@pytest.mark.parametrize(
    "char",
    ["\x00", "\x07", "\r", "\x7f", "\x85"],
    ids=["nul", "bell", "carriage-return", "delete", "next-line"],
)
def test_control_characters_refused_as_invalid(char: str) -> None:
    text = f"hello{char}world"
    assert check_text(text, POST_MAX_CLUSTERS, POST_MAX_CODE_POINTS) is TextProblem.CONTROL
    assert refusal(text) is ErrorCode.TEXT_INVALID


def test_crlf_refused_so_line_endings_cannot_count_differently() -> None:
    assert refusal("line one\r\nline two") is ErrorCode.TEXT_INVALID


def test_tab_and_newline_inside_text_are_fine() -> None:
    text = "地震だ\tみんな\n無事？"
    assert check_text(text, POST_MAX_CLUSTERS, POST_MAX_CODE_POINTS) is None
    assert rules.post_text(text) == text


def test_emotext_has_exactly_13_distinct_members() -> None:
    assert len(Emotext.__members__) == 13
    assert len({member.value for member in Emotext}) == 13
    assert {"shake", "super_shake", "big", "runrun", "asease", "uruuru"} <= {e.value for e in Emotext}


@given(st.text())
def test_clusters_never_outnumber_code_points(text: str) -> None:
    normal = normalize(text)
    assert count_clusters(normal) <= len(normal)


def test_stacked_combining_marks_are_capped_by_code_points() -> None:
    """One cluster can hold any number of marks; 149 of them must not become megabytes."""
    zalgo = "e" + "\u0301" * 2100  # NFC folds the first accent into "é": 2,100 code points remain
    assert count_clusters(zalgo) == 1
    assert check_text(zalgo, POST_MAX_CLUSTERS, POST_MAX_CODE_POINTS) is TextProblem.TOO_LONG
    with pytest.raises(ProtocolError) as refused:
        rules.post_text(zalgo)
    assert refused.value.code is ErrorCode.TEXT_TOO_LONG
    heavy = ("e" + "\U0001d165" * 12) * 149  # 1,937 code points: within both limits
    assert rules.post_text(heavy) == heavy
