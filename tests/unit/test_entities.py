"""Hashtags and links in post text (PROTOCOL.md section 7.10): the grammar, its offsets in
UTF-16 code units, and the normalised tags storage indexes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import ProtocolError
from protocol.text import (
    ENTITIES_MAX,
    TAG_MAX_CHARS,
    URL_MAX_CHARS,
    entity_text,
    find_entities,
    hashtags,
    utf16_offset,
)
from server.domain import present, rules


def tags(text: str) -> list[str]:
    return [entity_text(text, f.start, f.end) for f in find_entities(text) if f.kind == "tag"]


def urls(text: str) -> list[str]:
    return [f.value for f in find_entities(text) if f.kind == "url"]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("今日の炊き出し #炊き出し #地震", ["#炊き出し", "#地震"]),
        ("#地震、#炊き出し。", ["#地震", "#炊き出し"]),  # Japanese punctuation ends a tag
        ("炊き出し情報#炊き出し", ["#炊き出し"]),  # Japanese runs into a tag without a space
        ("（#避難所）", ["#避難所"]),
        ("＃避難所 full-width", ["＃避難所"]),  # the IME's full-width number sign
        ("#東日本大震災・復興", ["#東日本大震災・復興"]),  # the katakana middle dot holds
        ("#ラーメン々", ["#ラーメン々"]),  # ー and 々 are letters
        ("#tsudoi_dev!", ["#tsudoi_dev"]),
        ("#Sendai-city", ["#Sendai"]),  # a hyphen ends a tag
        ("#2026年", ["#2026年"]),
        ("#地#震", ["#地", "#震"]),
        ("#नमस्ते", ["#नमस्ते"]),  # combining marks of Indic scripts stay inside
    ],
)
def test_hashtags_are_found_with_their_displayed_form(text: str, shown: list[str]) -> None:
    assert tags(text) == shown


@pytest.mark.parametrize(
    "text",
    [
        "abc#def",  # inside an ASCII word
        "C#",
        "issue#12",
        "&#12354;",  # an HTML entity, as text
        "##tag",
        "#2026",  # digits only: a number, not a tag
        "#_",
        "# tag",
        "#",
        "ｃ#x",  # after a full-width letter too
    ],
)
def test_what_is_not_a_hashtag(text: str) -> None:
    assert tags(text) == []


def test_a_tag_longer_than_the_limit_is_no_tag_at_all() -> None:
    assert tags("#" + "あ" * TAG_MAX_CHARS) == ["#" + "あ" * TAG_MAX_CHARS]
    assert tags("#" + "あ" * (TAG_MAX_CHARS + 1)) == []


def test_tags_are_normalised_for_matching_and_kept_as_written_for_display() -> None:
    text = "#ＪＲ東日本 #Sendai #SENDAI #ｶﾞｽ"
    assert tags(text) == ["#ＪＲ東日本", "#Sendai", "#SENDAI", "#ｶﾞｽ"]
    assert [f.value for f in find_entities(text)] == ["jr東日本", "sendai", "sendai", "ガス"]
    assert hashtags(text) == ["jr東日本", "sendai", "ガス"]  # each once, first place kept


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("詳細はhttps://example.com/a?b=1。次", ["https://example.com/a?b=1"]),
        ("https://example.jp/地震情報", ["https://example.jp/"]),  # Japanese ends a link
        ("（https://example.jp/x）", ["https://example.jp/x"]),  # full-width brackets
        ("see https://example.com/a.", ["https://example.com/a"]),
        ("(https://example.com/a)", ["https://example.com/a"]),
        ("https://en.wikipedia.org/wiki/Foo_(bar)", ["https://en.wikipedia.org/wiki/Foo_(bar)"]),
        ("http://localhost:8000/x?y=1#z", ["http://localhost:8000/x?y=1#z"]),
        ("HTTPS://EXAMPLE.COM", ["HTTPS://EXAMPLE.COM"]),
        ("a https://a.jp, b http://b.jp!", ["https://a.jp", "http://b.jp"]),
        ("https://user@example.com", ["https://user"]),  # no user information
    ],
)
def test_links(text: str, found: list[str]) -> None:
    assert urls(text) == found


@pytest.mark.parametrize(
    "text", ["xhttps://example.com", "ftp://example.com", "https://", "https:// example.com", "https://-x"]
)
def test_what_is_not_a_link(text: str) -> None:
    assert urls(text) == []


def test_a_link_longer_than_the_limit_stays_text() -> None:
    assert urls("https://e.jp/" + "a" * (URL_MAX_CHARS - 13)) != []
    assert urls("https://e.jp/" + "a" * (URL_MAX_CHARS - 12)) == []


def test_a_hash_inside_a_link_is_the_links_and_a_tag_stops_where_a_link_starts() -> None:
    text = "https://example.com/#frag #地震https://x.jp"
    assert [(f.kind, entity_text(text, f.start, f.end)) for f in find_entities(text)] == [
        ("url", "https://example.com/#frag"),
        ("tag", "#地震"),
        ("url", "https://x.jp"),
    ]


def test_offsets_count_utf16_code_units() -> None:
    text = "😀🇯🇵 #地震 https://e.jp"  # three code points beyond the BMP: six units
    found = find_entities(text)
    assert [(f.start, f.end) for f in found] == [(7, 10), (11, 23)]
    assert [entity_text(text, f.start, f.end) for f in found] == ["#地震", "https://e.jp"]
    assert utf16_offset(text, 4) == 7


def test_at_most_the_first_entities_count() -> None:
    text = " ".join(f"#t{i}" for i in range(ENTITIES_MAX + 5))
    assert len(find_entities(text)) == ENTITIES_MAX
    assert hashtags(text) == [f"t{i}" for i in range(ENTITIES_MAX)]


@given(st.text(alphabet=st.sampled_from("#＃ あa1_-:/.h t p s（）😀\u3099"), max_size=60))
def test_entities_are_ordered_disjoint_slices_of_the_text(text: str) -> None:
    found = find_entities(text)
    end = 0
    for entity in found:
        assert end <= entity.start < entity.end
        end = entity.end
        shown = entity_text(text, entity.start, entity.end)
        assert shown[0] in "#＃" if entity.kind == "tag" else shown == entity.value
    assert end <= len(text.encode("utf-16-le")) // 2


def test_the_presented_post_carries_entities_not_markup() -> None:
    entities = present.entities("#炊き出し https://e.jp/<b>")
    assert [(e.kind, e.tag, e.url) for e in entities] == [
        ("tag", "炊き出し", None),
        ("url", None, "https://e.jp/"),  # "<" is not part of a link
    ]
    assert present.entities("no entities here") == []


def test_a_tag_asked_for_is_normalised_or_refused() -> None:
    assert rules.hashtag("#ＪＲ") == "jr"
    assert rules.hashtag("炊き出し") == "炊き出し"
    assert rules.hashtag(" ＃地震 ") == "地震"
    for bad in ["#", "2026", "a b", "#a#b", "a" * (TAG_MAX_CHARS + 1), "地震!"]:
        with pytest.raises(ProtocolError):
            rules.hashtag(bad)
