"""Pure rules for accounts and posts: validation that needs no storage."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Sequence

from protocol.errors import ErrorCode, ProtocolError
from protocol.messages import MediaAttachment
from protocol.text import (
    ALT_MAX_CLUSTERS,
    ALT_MAX_CODE_POINTS,
    BIO_MAX_CLUSTERS,
    BIO_MAX_CODE_POINTS,
    COMMUNITY_DESCRIPTION_MAX_CLUSTERS,
    COMMUNITY_DESCRIPTION_MAX_CODE_POINTS,
    DISPLAY_NAME_MAX_CLUSTERS,
    DISPLAY_NAME_MAX_CODE_POINTS,
    MESSAGE_MAX_CLUSTERS,
    MESSAGE_MAX_CODE_POINTS,
    POST_MAX_CLUSTERS,
    POST_MAX_CODE_POINTS,
    REACTION_EMOJI,
    TextProblem,
    check_text,
    normalize,
    normalize_tag,
    tag_body,
)

COMMUNITY_MAX_TAGS = 8
HANDLE = re.compile(r"[A-Za-z0-9_]{3,20}")
PASSWORD_MIN = 10
PASSWORD_MAX = 1024
MINIMUM_AGE = 18
_BIRTH_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def check_handle(handle: str) -> str:
    if not HANDLE.fullmatch(handle):
        raise ProtocolError(ErrorCode.HANDLE_INVALID, path="$.handle")
    return handle


def display_name(name: str) -> str:
    """The normalised display name, or ProtocolError."""
    name = normalize(name).strip()
    if (
        check_text(name, DISPLAY_NAME_MAX_CLUSTERS, DISPLAY_NAME_MAX_CODE_POINTS) is not None
        or "\n" in name
        or "\t" in name
    ):
        raise ProtocolError(ErrorCode.DISPLAY_NAME_INVALID, path="$.display_name")
    return name


def check_password(password: str, path: str = "$.password") -> str:
    if len(password) < PASSWORD_MIN:
        raise ProtocolError(ErrorCode.PASSWORD_TOO_SHORT, path=path)
    if len(password) > PASSWORD_MAX:
        raise ProtocolError(ErrorCode.PASSWORD_TOO_LONG, path=path)
    return password


def birth_date(text: str, today: dt.date) -> dt.date:
    """The birth date of someone aged at least 18 on ``today``, or ProtocolError."""
    if not _BIRTH_DATE.fullmatch(text):
        raise ProtocolError(ErrorCode.BIRTH_DATE_INVALID, path="$.birth_date")
    try:
        born = dt.date.fromisoformat(text)
    except ValueError:
        raise ProtocolError(ErrorCode.BIRTH_DATE_INVALID, path="$.birth_date") from None
    if born.year < 1900 or born > today:
        raise ProtocolError(ErrorCode.BIRTH_DATE_INVALID, path="$.birth_date")
    if age_on(born, today) < MINIMUM_AGE:
        raise ProtocolError(ErrorCode.UNDERAGE, path="$.birth_date")
    return born


def age_on(born: dt.date, today: dt.date) -> int:
    """Completed years. Someone born on 29 February has their birthday on 1 March in common years."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


_TEXT_ERRORS = {
    TextProblem.EMPTY: ErrorCode.TEXT_EMPTY,
    TextProblem.TOO_LONG: ErrorCode.TEXT_TOO_LONG,
    TextProblem.CONTROL: ErrorCode.TEXT_INVALID,
}


def post_text(text: str, path: str = "$.text") -> str:
    """The NFC text of a post of 1-149 user-perceived characters, or ProtocolError."""
    return _user_text(text, POST_MAX_CLUSTERS, POST_MAX_CODE_POINTS, path, "a post")


def message_text(text: str, path: str = "$.text") -> str:
    """The NFC text of a direct message of 1-1,000 user-perceived characters, or ProtocolError."""
    return _user_text(text, MESSAGE_MAX_CLUSTERS, MESSAGE_MAX_CODE_POINTS, path, "a message")


def _user_text(text: str, max_clusters: int, max_code_points: int, path: str, what: str) -> str:
    text = normalize(text)
    problem = check_text(text, max_clusters, max_code_points)
    if problem is not None:
        message = None
        if problem is TextProblem.TOO_LONG:
            message = f"{what} has at most {max_clusters} user-perceived characters"
        raise ProtocolError(_TEXT_ERRORS[problem], message, path=path)
    return text


def bio(text: str) -> str:
    """A profile's bio: empty, or up to 160 user-perceived characters (several lines allowed)."""
    return _optional_text(text, BIO_MAX_CLUSTERS, BIO_MAX_CODE_POINTS, "$.bio", "a bio")


def alt_text(text: str | None, path: str) -> str | None:
    """A picture's alt text: None when absent or blank, else up to 1,000 user-perceived characters."""
    if text is None:
        return None
    return _optional_text(text, ALT_MAX_CLUSTERS, ALT_MAX_CODE_POINTS, path, "alt text") or None


def _optional_text(text: str, max_clusters: int, max_code_points: int, path: str, what: str) -> str:
    text = normalize(text).strip()
    if check_text(text, max_clusters, max_code_points) is TextProblem.EMPTY:
        return ""
    return _user_text(text, max_clusters, max_code_points, path, what)


def attachments(media: Sequence[MediaAttachment]) -> list[tuple[str, str | None]]:
    """Pictures to attach, as storage takes them: (media id, alt text checked and normalised)."""
    return [(item.id, alt_text(item.alt, f"$.media[{n}].alt")) for n, item in enumerate(media)]


def media_not_found(pictures: Sequence[tuple[str, str | None]], media_id: str) -> ProtocolError:
    """The error for the upload storage refused to attach (MediaUnavailable), at its place."""
    index = next((n for n, (candidate, _) in enumerate(pictures) if candidate == media_id), 0)
    return ProtocolError(
        ErrorCode.MEDIA_NOT_FOUND,
        "not one of your uploads waiting to be attached (unknown, attached, expired, or of another kind)",
        path=f"$.media[{index}]",
    )


def community_name(name: str, path: str = "$.name") -> str:
    """A community's (or a group conversation's) name: 1-50 visible characters on one line."""
    name = normalize(name).strip()
    if (
        check_text(name, DISPLAY_NAME_MAX_CLUSTERS, DISPLAY_NAME_MAX_CODE_POINTS) is not None
        or "\n" in name
        or "\t" in name
    ):
        raise ProtocolError(ErrorCode.NAME_INVALID, path=path)
    return name


def community_description(text: str) -> str:
    """Empty, or 1-500 user-perceived characters."""
    text = normalize(text).strip()
    if not text:
        return ""
    problem = check_text(text, COMMUNITY_DESCRIPTION_MAX_CLUSTERS, COMMUNITY_DESCRIPTION_MAX_CODE_POINTS)
    if problem is TextProblem.EMPTY:
        return ""
    if problem is not None:
        raise ProtocolError(_TEXT_ERRORS[problem], path="$.description")
    return text


def tag(text: str) -> str:
    """The canonical form of an interest tag: NFKC, then case-folded (so "Ｓｅｎｄａｉ" is "sendai")."""
    return unicodedata.normalize("NFKC", text).casefold()


def tags(texts: list[str]) -> list[str]:
    """Canonical tags, first occurrence kept."""
    return list(dict.fromkeys(tag(text) for text in texts))


def hashtag(text: str) -> str:
    """A hashtag asked for (``timeline.tag``, ``tag.unwatch``), with or without its ``#``, in
    its normalised form; ``invalid_frame`` unless it is one hashtag of the grammar
    (PROTOCOL.md section 7.10)."""
    body = tag_body(normalize(text).strip())
    if body is None:
        raise ProtocolError(ErrorCode.INVALID_FRAME, "not a hashtag", path="$.tag")
    return normalize_tag(body)


def reaction(emoji: str) -> str:
    emoji = normalize(emoji)
    # A picker may send an emoji without its variation selector (❤ for ❤️): accept either.
    for allowed in REACTION_EMOJI:
        if emoji == allowed or emoji == allowed.replace("\ufe0f", ""):
            return allowed
    raise ProtocolError(ErrorCode.REACTION_NOT_ALLOWED, path="$.emoji")


#: ``@handle`` not preceded by an ASCII letter, digit, ``_`` or ``@`` (so e-mail addresses do not
#: count, while Japanese text runs straight into a mention: "こんにちは@hanako").
MENTION = re.compile(r"(?<![A-Za-z0-9_@])@([A-Za-z0-9_]{3,20})(?![A-Za-z0-9_])")
MAX_MENTIONS = 10


def mentions(text: str) -> list[str]:
    """The handles mentioned in ``text``, lower-cased, first occurrence kept, at most 10."""
    found = dict.fromkeys(handle.lower() for handle in MENTION.findall(text))
    return list(found)[:MAX_MENTIONS]


def page_offset(cursor: str | None) -> int:
    """The offset an opaque page cursor stands for (pages of ranked or searched results)."""
    if cursor is None:
        return 0
    if not (cursor.startswith("o") and cursor[1:].isdigit()) or len(cursor) > 7:
        raise ProtocolError(ErrorCode.INVALID_CURSOR, path="$.cursor")
    return int(cursor[1:])


def page_cursor(offset: int) -> str:
    return f"o{offset}"


_EDGE_CURSOR = re.compile(r"e([0-9]{1,15})\.([0-9A-HJKMNP-TV-Z]{26})")


def edge_cursor(created_ms: int, user_id: str) -> str:
    """The opaque cursor after a follow edge of a follower or following list."""
    return f"e{created_ms}.{user_id}"


def edge_position(cursor: str | None) -> tuple[int, str] | None:
    """The (created_ms, user id) an :func:`edge_cursor` stands for; ``invalid_cursor`` if it is
    not one."""
    if cursor is None:
        return None
    match = _EDGE_CURSOR.fullmatch(cursor)
    if match is None:
        raise ProtocolError(ErrorCode.INVALID_CURSOR, path="$.cursor")
    return int(match[1]), match[2]


SAFETY_NOTE_MAX_CLUSTERS = POST_MAX_CLUSTERS
INCIDENT_TITLE_MAX_CLUSTERS = 100


def safety_note(text: str) -> str:
    """A safety status's note: empty, or at most 149 user-perceived characters like a post."""
    text = normalize(text).strip()
    if not text:
        return ""
    return post_text(text, "$.note")


def area(text: str) -> str:
    """A coarse area in words: 1-50 visible characters on one line, like a name."""
    return community_name(text, "$.area")


def incident_title(text: str) -> str:
    text = normalize(text).strip()
    problem = check_text(text, INCIDENT_TITLE_MAX_CLUSTERS, DISPLAY_NAME_MAX_CODE_POINTS * 2)
    if problem is not None or "\n" in text:
        raise ProtocolError(
            ErrorCode.NAME_INVALID, "an incident title is 1-100 characters on one line", path="$.title"
        )
    return text
