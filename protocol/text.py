"""How Tsudoi measures and checks user text, shared by the server, the SDK and the tests.

A post is at most :data:`POST_MAX_CLUSTERS` *user-perceived characters*: Unicode extended
grapheme clusters (UAX #29) of the text after NFC normalisation. This is what a reader counts
("👨‍👩‍👧" is one, "が" is one whether typed as one code point or two) and what the browser's
``Intl.Segmenter`` with ``granularity: "grapheme"`` counts, so the SPA's counter and the server
agree. Python's standard library has no grapheme segmentation; the ``regex`` module's ``\\X``
implements UAX #29 with a current Unicode database.
"""

from __future__ import annotations

import enum
import unicodedata

import regex

__all__ = [
    "COMMUNITY_DESCRIPTION_MAX_CLUSTERS",
    "COMMUNITY_DESCRIPTION_MAX_CODE_POINTS",
    "DISPLAY_NAME_MAX_CLUSTERS",
    "DISPLAY_NAME_MAX_CODE_POINTS",
    "MESSAGE_MAX_CLUSTERS",
    "MESSAGE_MAX_CODE_POINTS",
    "POST_MAX_CLUSTERS",
    "POST_MAX_CODE_POINTS",
    "REACTION_EMOJI",
    "Emotext",
    "TextProblem",
    "check_text",
    "count_clusters",
    "normalize",
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
