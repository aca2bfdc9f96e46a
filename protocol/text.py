"""How Tsudoi measures and checks user text, shared by the server, the SDK and the tests.

A post is at most :data:`POST_MAX_CLUSTERS` *user-perceived characters*: Unicode extended
grapheme clusters (UAX #29) of the text after NFC normalisation. This is what a reader counts
("👨‍👩‍👧" is one, "が" is one whether typed as one code point or two) and what the browser's
``Intl.Segmenter`` with ``granularity: "grapheme"`` counts, so the SPA's counter and the server
agree. Python's standard library has no grapheme segmentation; the ``regex`` module's ``\\X``
implements UAX #29 with a current Unicode database.

Hashtags and links in a post are found here too (:func:`find_entities`), by one grammar the
server applies when it presents a post and a client may apply to text it composes. Their
offsets count UTF-16 code units, what JavaScript's strings index by (:func:`utf16_offset`,
:func:`entity_text` for Python clients); PROTOCOL.md section 7.10 states the grammar.
"""

from __future__ import annotations

import enum
import unicodedata
from typing import Literal, NamedTuple

import regex

__all__ = [
    "COMMUNITY_DESCRIPTION_MAX_CLUSTERS",
    "COMMUNITY_DESCRIPTION_MAX_CODE_POINTS",
    "DISPLAY_NAME_MAX_CLUSTERS",
    "DISPLAY_NAME_MAX_CODE_POINTS",
    "ENTITIES_MAX",
    "MESSAGE_MAX_CLUSTERS",
    "MESSAGE_MAX_CODE_POINTS",
    "POST_MAX_CLUSTERS",
    "POST_MAX_CODE_POINTS",
    "REACTION_EMOJI",
    "TAG_MAX_CHARS",
    "URL_MAX_CHARS",
    "Emotext",
    "Found",
    "TextProblem",
    "check_text",
    "count_clusters",
    "entity_text",
    "find_entities",
    "hashtags",
    "normalize",
    "normalize_tag",
    "tag_body",
    "utf16_offset",
]

POST_MAX_CLUSTERS = 149  # mixi2's "149.3 characters", read upside down as "ミクシィ".
DISPLAY_NAME_MAX_CLUSTERS = 50
#: A guard on code points per cluster limit: one cluster may carry any number of combining
#: marks, so without it 149 "characters" could be megabytes. The longest emoji sequences are
#: about 10 code points, so real text of 149 clusters stays far below these.
POST_MAX_CODE_POINTS = 2048
DISPLAY_NAME_MAX_CODE_POINTS = 400
#: A direct message, as mixi2's: up to 1,000 user-perceived characters.
MESSAGE_MAX_CLUSTERS = 1000
MESSAGE_MAX_CODE_POINTS = 8192
COMMUNITY_DESCRIPTION_MAX_CLUSTERS = 500
COMMUNITY_DESCRIPTION_MAX_CODE_POINTS = 4096
#: A profile's bio (since protocol 1.9.0), as long as a classic one-line profile.
BIO_MAX_CLUSTERS = 160
BIO_MAX_CODE_POINTS = 1024
#: A picture's alt text: a description of what it shows, as long as Twitter allows. The code
#: point guard is tighter than a message's so that a timeline page of posts quoting posts, each
#: with four pictures, stays within the largest server frame (``MAX_SERVER_FRAME_BYTES``).
ALT_MAX_CLUSTERS = 1000
ALT_MAX_CODE_POINTS = 1000
#: The emoji a post can be reacted with: single emoji graphemes, a picker's worth. A short fixed
#: set keeps counts meaningful and rendering predictable on every device.
REACTION_EMOJI: tuple[str, ...] = (
    "👍", "❤️", "😂", "😮", "😢", "🙏", "🎉", "🔥", "👀", "🆗", "💪", "🙇",
)  # fmt: skip

_CLUSTER = regex.compile(r"\X")
# Blank: nothing but white space and default-ignorable code points (ZWSP, ZWJ, variation
# selectors, ...), which a reader would see as nothing at all.
_BLANK = regex.compile(r"[\p{White_Space}\p{Default_Ignorable_Code_Point}]*")
# Control characters other than tab and line feed have no place in a post or a name;
# carriage returns are dropped from the allowed set so "\r\n" and "\n" cannot count differently.
_FORBIDDEN_CONTROL = regex.compile(r"[\p{Cc}--[\t\n]]", flags=regex.V1)


class Emotext(enum.StrEnum):
    """The 13 named animated effects a post may carry, rendered by clients, never as markup.

    mixi2 ships 13 "emotext" effects; the names it has published are shake, super shake, big,
    runrun (るんるん), asease (あせあせ) and uruuru (うるうる). The other seven are Tsudoi's own.
    """

    SHAKE = "shake"  # シェイク: the letters tremble
    SUPER_SHAKE = "super_shake"  # 超シェイク: the letters shake hard
    BIG = "big"  # ビッグ: shown large
    SMALL = "small"  # ひそひそ: shown small, a whisper
    RUNRUN = "runrun"  # るんるん: notes bounce around the text
    ASEASE = "asease"  # あせあせ: sweat drops, flustered
    URUURU = "uruuru"  # うるうる: teary, the background goes soft blue
    KIRAKIRA = "kirakira"  # きらきら: sparkles
    DOKIDOKI = "dokidoki"  # どきどき: the text beats like a heart
    FUWAFUWA = "fuwafuwa"  # ふわふわ: the text floats
    GAAN = "gaan"  # がーん: shock, the text drops
    BIKKURI = "bikkuri"  # びっくり: surprise, the text jumps
    PIKAPIKA = "pikapika"  # ぴかぴか: the text flashes


class TextProblem(enum.Enum):
    EMPTY = "empty"
    TOO_LONG = "too_long"
    CONTROL = "control"


def normalize(text: str) -> str:
    """The canonical form of user text: NFC."""
    return unicodedata.normalize("NFC", text)


def count_clusters(text: str) -> int:
    """Extended grapheme clusters in ``text`` (normalise first: counting is defined on NFC)."""
    return len(_CLUSTER.findall(text))


def check_text(text: str, max_clusters: int, max_code_points: int) -> TextProblem | None:
    """What is wrong with already-normalised ``text`` for these limits, or None."""
    if _FORBIDDEN_CONTROL.search(text):
        return TextProblem.CONTROL
    if _BLANK.fullmatch(text):
        return TextProblem.EMPTY
    if len(text) > max_code_points:
        return TextProblem.TOO_LONG
    # Cheap bound first: a cluster holds at least one code point.
    if len(text) > max_clusters and count_clusters(text) > max_clusters:
        return TextProblem.TOO_LONG
    return None


# --- hashtags and links (PROTOCOL.md section 7.10) ------------------------------------------

#: A hashtag's body, after its ``#``: at most this many code points. A longer run of tag
#: characters is no tag at all, rather than a tag cut short that means something else.
TAG_MAX_CHARS = 50
#: A post shows at most this many hashtags and links, the first ones, as it notifies at most
#: 10 mentions; only those tags are indexed. A text of 149 characters could hold 74 tags
#: ("#地#震" is two), which nobody writes but which would weigh on every page that carries the
#: post: with 10, a page of the largest posts still fits one frame (tests/unit/test_codec.py).
ENTITIES_MAX = 10
#: A link longer than this (in code points) is left as text: no real address needs it, and a
#: client need not fit one on a card.
URL_MAX_CHARS = 400

# What a tag holds: letters of any script (kana, kanji, the prolonged sound mark ー and 々
# are letters), combining marks (Indic scripts, a decomposed voiced mark), decimal digits, "_",
# the zero-width joiners some scripts need inside words, and the katakana middle dot "・"
# ("#ワン・ツー"). Not "-": a hyphen after a tag in running text is punctuation more often
# than part of it.
_TAG_CHAR = r"\p{L}\p{M}\p{Nd}_\u200c\u200d\u30fb"
# A tag does not start inside an ASCII word ("abc#def", "C#", an HTML entity "&#12354;", a
# second "#" in "##"), but may follow Japanese text without a space ("炊き出し情報#炊き出し"),
# since Japanese is written without spaces, as Misskey does.
_TAG = regex.compile(rf"(?<![A-Za-z0-9_Ａ-Ｚａ-ｚ０-９&#＃])[#＃]([{_TAG_CHAR}]+)")
_LETTER = regex.compile(r"\p{L}")
# A link: http or https (any case), a host of ASCII labels, an optional port, then a path,
# query or fragment of the ASCII characters RFC 3986 allows. It does not start inside an ASCII
# word ("xhttps://"), but may follow Japanese text without a space ("詳細はhttps://..."); it
# ends at the first character outside that set, so Japanese text, full-width punctuation
# ("）", "。", "、") and spaces end it. User information ("https://user@host") is not part of
# the grammar: such a link stops at the "@", as it would mislead about where it goes.
_URL = regex.compile(
    r"(?<![A-Za-z0-9])[Hh][Tt][Tt][Pp][Ss]?://"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"(?::[0-9]{1,5})?"
    r"(?:[/?#][A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*)?"
)
# Left off the end of a link: sentence punctuation, quotes, and closing brackets without an
# opening one in the link ("(https://example.com/a)" links ".../a"; a Wikipedia title
# ".../Foo_(bar)" keeps its own).
_URL_TRAILING = ".,:;!?'*"
_CLOSERS = {")": "(", "]": "["}


class Found(NamedTuple):
    """An entity found in text. ``start`` and ``end`` are UTF-16 code unit offsets (``end``
    exclusive); ``value`` is the normalised tag (``kind`` "tag") or the address (``kind``
    "url"). The displayed form is the text between the offsets."""

    kind: Literal["tag", "url"]
    start: int
    end: int
    value: str


def normalize_tag(body: str) -> str:
    """A hashtag's canonical form, for matching: NFKC, then case-folded, as interest and
    community tags are ("#ＪＲ" and "#jr" are one tag; "#地震" is "地震")."""
    return unicodedata.normalize("NFKC", body).casefold()


def tag_body(text: str) -> str | None:
    """``text`` (with or without a leading ``#``/``＃``) if it is a whole, valid hashtag body:
    1 to :data:`TAG_MAX_CHARS` tag characters, at least one a letter. Else None."""
    body = text[1:] if text[:1] in ("#", "＃") else text
    if not body or len(body) > TAG_MAX_CHARS or not _LETTER.search(body):
        return None
    return body if regex.fullmatch(rf"[{_TAG_CHAR}]+", body) else None


def _trim_url(url: str) -> str:
    while url:
        last = url[-1]
        if last in _URL_TRAILING or (last in _CLOSERS and url.count(last) > url.count(_CLOSERS[last])):
            url = url[:-1]
        else:
            break
    return url


def _urls(text: str) -> list[tuple[int, int, str]]:
    """(start, end, url) in code points, in order of appearance."""
    found = []
    for match in _URL.finditer(text):
        url = _trim_url(match.group())
        if "://" not in url or url.endswith("://") or len(url) > URL_MAX_CHARS:
            continue
        found.append((match.start(), match.start() + len(url), url))
    return found


def _tags(text: str, pos: int, endpos: int) -> list[tuple[int, int, str]]:
    found = []
    for match in _TAG.finditer(text, pos, endpos):
        body = match.group(1)
        if len(body) > TAG_MAX_CHARS or not _LETTER.search(body):
            continue
        found.append((match.start(), match.end(), normalize_tag(body)))
    return found


def utf16_offset(text: str, index: int) -> int:
    """The UTF-16 code unit offset of code point ``index`` of ``text``: what JavaScript's
    ``String.prototype.slice`` takes. Code points beyond the Basic Multilingual Plane (most
    emoji) count two."""
    return index + sum(1 for ch in text[:index] if ord(ch) > 0xFFFF)


def entity_text(text: str, start: int, end: int) -> str:
    """The text between two UTF-16 offsets (an entity's displayed form, ``#地震`` or the link
    as written), for Python clients."""
    encoded = text.encode("utf-16-le")
    return encoded[2 * start : 2 * end].decode("utf-16-le")


def find_entities(text: str) -> list[Found]:
    """The hashtags and links of ``text``, in order, never overlapping: links first, then tags
    in the text between them (a ``#`` inside a link is part of the link, and a tag that runs
    into a link ends where the link starts)."""
    spans: list[Found] = []
    previous = 0
    for start, end, url in _urls(text):
        spans += [Found("tag", *tag) for tag in _tags(text, previous, start)]
        spans.append(Found("url", start, end, url))
        previous = end
    spans += [Found("tag", *tag) for tag in _tags(text, previous, len(text))]
    del spans[ENTITIES_MAX:]
    # Offsets so far count code points; most posts are all in the Basic Multilingual Plane,
    # where they are the UTF-16 offsets already.
    if not spans or all(ord(ch) <= 0xFFFF for ch in text):
        return spans
    return [
        found._replace(start=utf16_offset(text, found.start), end=utf16_offset(text, found.end))
        for found in spans
    ]


def hashtags(text: str) -> list[str]:
    """The normalised tags of ``text``, each once, in order of first appearance: what storage
    indexes a post under (``timeline.tag``)."""
    return list(dict.fromkeys(found.value for found in find_entities(text) if found.kind == "tag"))
