"""What search compares: text folded the same way on both sides, and the n-grams indexed from it.

Japanese is written without spaces, so words cannot be split off the way English full-text
search splits them; search is by substring instead. Both the indexed text (posts, display
names) and the query are *folded* by :func:`fold`:

- NFKC, so full-width Latin and digits and half-width katakana read as their usual forms
  ("ＳＥＮＤＡＩ" is "SENDAI", "ｶﾞｽ" is "ガス");
- Unicode case folding ("Sendai" is "sendai", "Straße" is "strasse");
- katakana folded to hiragana ("ジシン" is "じしん"): a one-to-one shift of the katakana block
  (U+30A1-U+30F6 and the iteration marks) onto the hiragana one, the rest untouched, so kanji,
  the long-vowel mark and the few katakana without a hiragana twin (ヷ-ヺ) stay as they are;
- control characters dropped (line breaks and tabs count as white space);
- runs of white space made one space, none at either end.

A query matches a text when its fold is a substring of the text's fold. The adapters find
candidates with n-gram indexes and never answer anything that is not such a substring:

- :func:`short_grams` are the distinct characters and pairs of adjacent characters (none
  holding a space) of a folded text: a query of one or two characters is a substring exactly
  when it is one of them. The SQLite adapter indexes them (as :func:`gram_token` words) for
  queries shorter than its trigram index can serve; the MongoDB adapter indexes them for every
  query, checking longer ones against the folded text itself.
"""

from __future__ import annotations

import itertools
import re
import unicodedata

#: Queries at least this long are served by the SQLite adapter's trigram index.
TRIGRAM = 3

# Katakana ァ..ヶ and ヽヾ sit 0x60 above hiragana ぁ..ゖ and ゝゞ. Control characters are
# dropped (a line break or tab is white space, so a space): nobody searches for them, and a NUL
# would end an FTS5 query string early.
_FOLD: dict[int, int | str | None] = {code: code - 0x60 for code in (*range(0x30A1, 0x30F7), 0x30FD, 0x30FE)}
_FOLD.update({code: " " if chr(code).isspace() else None for code in (*range(0x20), *range(0x7F, 0xA0))})
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """The form search compares (module docstring): NFKC, case-folded, katakana as hiragana,
    control characters dropped, white space collapsed and stripped. Case folding can leave text outside NFKC (it expands a
    few letters), hence NFKC again after it."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return _SPACES.sub(" ", folded.translate(_FOLD)).strip()


def short_grams(folded: str) -> list[str]:
    """The distinct characters and adjacent pairs of a folded text, white space left out, in
    the order they first occur."""
    # Only " ": fold leaves no other white space, and a fixed rule keeps the grams of a stored
    # text the same under any Unicode version (the adapter deletes by recomputing them).
    grams = dict.fromkeys(c for c in folded if c != " ")
    grams.update(dict.fromkeys(a + b for a, b in itertools.pairwise(folded) if " " not in (a, b)))
    return list(grams)


def gram_token(gram: str) -> str:
    """A one- or two-character gram as one ASCII word: the hex code points, joined by ``x``
    (which no hex number holds). SQLite's ``ascii`` tokenizer then keeps each gram one token
    whatever its characters (punctuation and emoji included), with no tokenizer of our own."""
    return "x".join(f"{ord(c):x}" for c in gram)


def gram_document(folded: str) -> str:
    """What the SQLite adapter indexes for a text's short grams: their tokens, space-separated."""
    return " ".join(gram_token(g) for g in short_grams(folded))


def phrase(folded: str) -> str:
    """An FTS5 MATCH expression for ``folded`` as one string (a quoted phrase, quotes doubled):
    under the trigram tokenizer, the rows holding it as a substring."""
    return '"' + folded.replace('"', '""') + '"'
