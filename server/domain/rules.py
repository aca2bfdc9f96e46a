"""Pure rules for accounts and posts: validation that needs no storage."""

from __future__ import annotations

import datetime as dt
import re

from protocol.errors import ErrorCode, ProtocolError
from protocol.text import (
    DISPLAY_NAME_MAX_CLUSTERS,
    DISPLAY_NAME_MAX_CODE_POINTS,
    POST_MAX_CLUSTERS,
    POST_MAX_CODE_POINTS,
    TextProblem,
    check_text,
    normalize,
)

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
    text = normalize(text)
    problem = check_text(text, POST_MAX_CLUSTERS, POST_MAX_CODE_POINTS)
    if problem is not None:
        message = None
        if problem is TextProblem.TOO_LONG:
            message = f"a post has at most {POST_MAX_CLUSTERS} user-perceived characters"
        raise ProtocolError(_TEXT_ERRORS[problem], message, path=path)
    return text
