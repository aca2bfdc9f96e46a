"""The "during a disaster" page: what to do and where to turn, written by the operator in
Markdown and shown by clients while an incident lasts (PROTOCOL.md 11.15).

In March 2011, with phones and carrier mail failing, people checked on each other through the
social services that still worked, and the official services that help most (NTT's Disaster
Emergency Message Dial 171 and its web board, the carriers' boards, the news) were the ones
people had to be told about. Here an operator writes such a page for their own people
(``tsudoi admin disaster-page set FILE.md``); until they do, :data:`DEFAULT_MARKDOWN` is shown,
so that a server that never thought of it still points at the official services at the moment
it matters. The default is about Japan; an operator elsewhere replaces it.

Rendering is here, not in clients, so that every client shows the same safe HTML, and so that
the page is one cacheable document a phone keeps for offline. It is safe by construction:
markdown-it-py's CommonMark with raw HTML off (so ``<script>`` is text), links only to
``https:``, ``http:``, ``mailto:`` and ``tel:`` or within the page and the app (``#...``,
``/...``), every web link opened apart (``rel="noopener noreferrer"``, ``target="_blank"``,
``class="external"``), and no images: a picture is its alt text, because during a disaster
bandwidth goes to what people need first, and the page's policy loads nothing from elsewhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from protocol.errors import ErrorCode, ProtocolError
from protocol.text import TextProblem, check_text, normalize

from ..store.base import PageRecord, SafetyStorage

#: The page's name in storage.
NAME: Final = "disaster"
#: The Markdown source's bound, in UTF-8 bytes: about 10,000 Japanese characters, far more than
#: a page read on a phone in a hurry needs, and small enough for a slow network.
MAX_BYTES: Final = 32 * 1024
#: Link schemes a page may use; any other link is left as its text.
LINK_SCHEMES: Final = frozenset({"https", "http", "mailto", "tel"})
#: Bumped when rendering changes, so that ETags of pages rendered before do not match.
RENDERER_VERSION: Final = "1"

DEFAULT_MARKDOWN: Final = """\
# 災害のときは / During a disaster

**命を守ることを最優先にしてください。** 緊急の通報は **110**（警察）・**119**（消防・救急）へ。

## 無事を知らせる・確かめる

- このアプリの [安否](#/safety) で、友だちに「無事」「助けが必要」「避難中」をひと押しで伝えられます。
- **災害用伝言ダイヤル 171**（NTT）：[171](tel:171) に電話し、録音は「1」、再生は「2」。\
固定電話・携帯電話の番号ごとに伝言を残せます。
- **災害用伝言板 web171**：<https://www.web171.jp/>
- 携帯電話各社の災害用伝言板も使えます。

## 情報を得る

- 気象庁（警報・地震・津波）：<https://www.jma.go.jp/>
- NHK ニュース：<https://www3.nhk.or.jp/news/>
- お住まいの市区町村の防災情報・避難所の案内を確認してください。

---

**Put your life first.** In an emergency call **110** (police) or **119** (fire and ambulance).

## Tell people you are safe, and check on them

- On this app's [Safety](#/safety) page, one tap tells your friends "safe", "need help" or \
"evacuating".
- **Disaster Emergency Message Dial 171** (NTT): call [171](tel:171), press 1 to record a \
message for a phone number, 2 to play one back.
- **Disaster message board web171**: <https://www.web171.jp/>
- Mobile carriers run disaster message boards too.

## Stay informed

- Japan Meteorological Agency (warnings, earthquakes, tsunami): \
<https://www.jma.go.jp/jma/indexe.html>
- NHK WORLD-JAPAN: <https://www3.nhk.or.jp/nhkworld/>
- Check your city's disaster information and evacuation shelters.
"""


@dataclass(frozen=True, slots=True)
class Page:
    """The page as clients get it."""

    markdown: str
    html: str
    #: When the operator last wrote it; None for the built-in default.
    updated_ms: int | None
    #: Strong validator of the response: changes whenever the markdown or the renderer does.
    etag: str

    @property
    def default(self) -> bool:
        return self.updated_ms is None


def _allowed_link(url: str) -> bool:
    """A link target a page may have: one of :data:`LINK_SCHEMES`, or within the page and the
    app (``#...``, ``/...`` but not ``//host``, which leaves the site with no scheme)."""
    url = url.strip()
    if url.startswith("#") or (url.startswith("/") and not url.startswith("//")):
        return True
    scheme, colon, _ = url.partition(":")
    return bool(colon) and scheme.lower() in LINK_SCHEMES


def _external(url: str) -> bool:
    return url.lower().startswith(("https:", "http:"))


def _link_open(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    if _external(str(token.attrGet("href") or "")):
        token.attrSet("class", "external")
        token.attrSet("target", "_blank")
        token.attrSet("rel", "noopener noreferrer")
    return renderer.renderToken(tokens, idx, options, env)


def _image(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """No pictures: the alt text stands in (see the module docstring)."""
    return escapeHtml(renderer.renderInlineAsText(tokens[idx].children or [], options, env))


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.validateLink = _allowed_link  # type: ignore[method-assign]
    md.add_render_rule("link_open", _link_open)
    md.add_render_rule("image", _image)
    return md


_MD = _parser()
#: The same syntax with every link and image kept: to tell an operator what :data:`_MD` drops.
_LAX = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
_LAX.validateLink = lambda url: True  # type: ignore[method-assign]


def render(markdown: str) -> str:
    """The page's HTML: safe to insert into the app as it is (see the module docstring)."""
    html: str = _MD.render(markdown)
    return html


def dropped(markdown: str) -> list[str]:
    """What the page has that is not shown as written: each refused link target, and each
    image (shown as its alt text), in order; for the operator's command to warn about."""
    found = []
    for block in _LAX.parse(markdown):
        for token in block.children or []:
            target = str(token.attrGet("href") or token.attrGet("src") or "")
            if token.type == "image":
                found.append(f"image {target}")
            elif token.type == "link_open" and not _allowed_link(target):
                found.append(f"link {target}")
    return found


def check(markdown: str) -> str:
    """The page's source as stored: NFC, line ends as ``\\n``, no trailing white space; or
    ProtocolError (``text_empty``, ``text_too_long``, ``text_invalid``) with a message an
    operator can act on."""
    text = normalize(markdown.replace("\r\n", "\n").replace("\r", "\n")).strip()
    size = len(text.encode("utf-8"))
    if size > MAX_BYTES:
        raise ProtocolError(
            ErrorCode.TEXT_TOO_LONG, f"the page has {size} bytes of UTF-8; at most {MAX_BYTES} bytes"
        )
    problem = check_text(text, MAX_BYTES, MAX_BYTES)
    if problem is TextProblem.EMPTY:
        raise ProtocolError(ErrorCode.TEXT_EMPTY, "the page is empty (to show the built-in page, clear it)")
    if problem is TextProblem.CONTROL:
        raise ProtocolError(
            ErrorCode.TEXT_INVALID, "the page holds control characters other than tab and newline"
        )
    return text


def _page(markdown: str, updated_ms: int | None) -> Page:
    html = render(markdown)
    digest = hashlib.sha256(f"{RENDERER_VERSION}\0{updated_ms}\0{markdown}".encode()).hexdigest()
    return Page(markdown=markdown, html=html, updated_ms=updated_ms, etag=f'"{digest[:32]}"')


class DisasterPages:
    """Reads and writes the page. Each read asks storage (one row by key), so a change an
    operator makes from the shell is served by every node at once; the rendering of the last
    page seen is kept, so a rush of readers during an incident costs no Markdown parsing."""

    def __init__(self, store: SafetyStorage, clock: Callable[[], int]) -> None:
        self._store = store
        self._now = clock
        self._last: Page = _page(DEFAULT_MARKDOWN, None)

    async def get(self) -> Page:
        record = await self._store.get_page(NAME)
        markdown, updated_ms = (record.markdown, record.updated_ms) if record else (DEFAULT_MARKDOWN, None)
        last = self._last
        if last.markdown != markdown or last.updated_ms != updated_ms:
            last = self._last = _page(markdown, updated_ms)
        return last

    async def set(self, markdown: str) -> PageRecord:
        """Store the operator's page (see :func:`check`)."""
        return await self._store.set_page(NAME, check(markdown), self._now())

    async def clear(self) -> bool:
        """Back to the built-in default; False if the operator had written none."""
        return await self._store.delete_page(NAME)
