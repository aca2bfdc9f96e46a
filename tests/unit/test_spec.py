"""The written contract: asyncapi.json is fresh and covers every op, result and event; codes are documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from markdown_it import MarkdownIt

from protocol import messages as m
from protocol import spec
from protocol.errors import (
    CLOSE_MEANINGS,
    CLOSE_RECONNECT_RANGE,
    CLOSE_TERMINAL_RANGE,
    ERROR_MEANINGS,
    CloseCode,
    ErrorCode,
)
from protocol.spec import SPEC_PATH, build

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(SPEC_PATH.read_bytes())
    return loaded


def test_committed_asyncapi_document_is_fresh() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "protocol.spec", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_build_is_deterministic() -> None:
    assert build() == build()


def test_document_is_asyncapi_3(document: dict[str, Any]) -> None:
    assert document["asyncapi"] == "3.0.0"
    assert set(document["channels"]["gateway"]["messages"]) == set(document["components"]["messages"])


@pytest.mark.parametrize("request_type", m.REQUEST_TYPES, ids=m.op_of)
def test_every_request_op_has_a_request_and_an_ok_message(
    document: dict[str, Any], request_type: type[m.Request]
) -> None:
    op = m.op_of(request_type)
    messages = document["components"]["messages"]
    assert op in messages
    assert f"{op}.ok" in messages
    assert messages[op]["payload"] == {"$ref": f"#/components/schemas/{request_type.__name__}"}
    result_name = m.RESULT_TYPES[request_type].__name__
    assert messages[f"{op}.ok"]["payload"]["properties"]["data"] == {
        "$ref": f"#/components/schemas/{result_name}"
    }
    assert f"receive.{op}" in document["operations"]


def test_every_request_type_has_a_result_type() -> None:
    """REQUEST_TYPES is RESULT_TYPES' keys: a request class left out of it is no op at all."""
    defined, pending = set(), list(m.Request.__subclasses__())
    while pending:
        t = pending.pop()
        pending.extend(t.__subclasses__())
        if t.__module__ == m.__name__:  # tests may define requests of their own
            defined.add(t)
    assert defined == set(m.RESULT_TYPES) == set(m.REQUEST_TYPES)


def test_handshake_and_error_messages_are_present(document: dict[str, Any]) -> None:
    assert {"auth", "hello", "ready", "error"} <= set(document["components"]["messages"])


@pytest.mark.parametrize("event_type", m.EVENT_TYPES, ids=lambda t: t.TYPE)
def test_every_event_type_has_an_event_message(
    document: dict[str, Any], event_type: type[m.EventData]
) -> None:
    message = document["components"]["messages"][f"event.{event_type.TYPE}"]
    payload = message["payload"]
    assert payload["properties"]["type"] == {"const": event_type.TYPE}
    if event_type.STREAM is None:
        assert "stream" not in payload["properties"]
    else:
        assert payload["properties"]["stream"] == {"const": event_type.STREAM}
        assert {"stream", "pos"} <= set(payload["required"])
        assert event_type.STREAM in m.STREAMS


def test_close_code_values_are_unique() -> None:
    values = [int(code) for code in CloseCode.__members__.values()]
    assert len(values) == len(set(values))


def test_error_code_values_are_unique() -> None:
    values = [str(code) for code in ErrorCode.__members__.values()]
    assert len(values) == len(set(values))


def test_close_codes_are_in_the_documented_ranges() -> None:
    assert range(4000, 4500) == CLOSE_RECONNECT_RANGE
    assert range(4500, 5000) == CLOSE_TERMINAL_RANGE
    for code in CloseCode:
        assert 4000 <= code <= 4999
        assert code.reconnect == (4000 <= code <= 4499)
        assert (not code.reconnect) == (4500 <= code <= 4999)


def test_reconnect_and_terminal_close_codes_are_the_expected_ones() -> None:
    reconnect = {code for code in CloseCode if code.reconnect}
    assert reconnect == {
        CloseCode.GOING_AWAY,
        CloseCode.HEARTBEAT_TIMEOUT,
        CloseCode.SLOW_CONSUMER,
        CloseCode.RATE_LIMITED,
        CloseCode.AUTH_TIMEOUT,
        CloseCode.SERVER_ERROR,
        CloseCode.RESYNC_REQUIRED,
        CloseCode.TRY_AGAIN_LATER,
    }
    assert set(CloseCode) - reconnect == {
        CloseCode.AUTH_FAILED,
        CloseCode.SESSION_REVOKED,
        CloseCode.BAD_HANDSHAKE,
        CloseCode.UNSUPPORTED_PROTOCOL,
    }


def test_every_error_code_has_a_meaning() -> None:
    assert set(ERROR_MEANINGS) == set(ErrorCode)
    for code in ErrorCode:
        assert code.meaning.strip()


def test_every_close_code_has_a_meaning() -> None:
    assert set(CLOSE_MEANINGS) == set(CloseCode)
    for code in CloseCode:
        assert code.meaning.strip()


def test_meanings_are_distinct() -> None:
    assert len(set(ERROR_MEANINGS.values())) == len(ERROR_MEANINGS)
    assert len(set(CLOSE_MEANINGS.values())) == len(CLOSE_MEANINGS)


def test_document_lists_every_error_and_close_code(document: dict[str, Any]) -> None:
    error_text = document["components"]["messages"]["error"]["description"]
    for code in ErrorCode:
        assert f"`{code}`" in error_text
    close_text = document["channels"]["gateway"]["description"]
    for close in CloseCode:
        assert f"{int(close)} {close.name.lower()}" in close_text


def _prose(node: Any, where: str = "$") -> list[tuple[str, str]]:
    """Every description and summary in the document, with where it is."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("description", "summary") and isinstance(value, str):
                found.append((f"{where}.{key}", value))
            else:
                found.extend(_prose(value, f"{where}.{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_prose(value, f"{where}[{i}]"))
    return found


def _has_code_block(text: str) -> bool:
    # No description uses fences, so a <pre> can only come from indentation.
    return "<pre" in MarkdownIt("commonmark").render(text)


def test_an_indented_docstring_would_be_caught() -> None:
    assert _has_code_block("A post.\n\n    ``reactions`` are counts.")
    assert not _has_code_block("A post.\n\n``reactions`` are counts.")


def test_descriptions_render_as_prose_in_commonmark(document: dict[str, Any]) -> None:
    prose = _prose(document)
    assert len(prose) > 100
    blocks = [where for where, text in prose if _has_code_block(text)]
    assert blocks == []


def _titled(document: dict[str, Any], schema: dict[str, Any]) -> str | None:
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        return _titled(document, document["components"]["schemas"][name])
    title = schema.get("title")
    return title if isinstance(title, str) and title else None


def test_every_message_and_schema_has_a_title(document: dict[str, Any]) -> None:
    """Code generators name models after titles; without one AsyncAPI Modelina says AnonymousSchema_N."""
    messages = document["components"]["messages"]
    assert [name for name, message in messages.items() if not message.get("title")] == []
    assert [name for name, message in messages.items() if not _titled(document, message["payload"])] == []
    schemas = document["components"]["schemas"]
    assert [name for name, schema in schemas.items() if schema.get("title") != name] == []
    inline = [
        message["payload"]["title"] for message in messages.values() if "$ref" not in message["payload"]
    ]
    titles = inline + list(schemas)
    assert len(titles) == len(set(titles)), "two payload schemas share a title"
    # Generators make a type of each enum too (a Literal field, a request's op).
    untitled_enums = [where for where, node in _nodes(document) if "enum" in node and not node.get("title")]
    assert untitled_enums == []


def _nodes(node: Any, where: str = "$") -> list[tuple[str, dict[str, Any]]]:
    """Every object in the document, with where it is."""
    found = []
    if isinstance(node, dict):
        found.append((where, node))
        for key, value in node.items():
            found.extend(_nodes(value, f"{where}.{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_nodes(value, f"{where}[{i}]"))
    return found


def test_replies_name_no_channel(document: dict[str, Any]) -> None:
    """A reply comes back on the gateway channel its messages' $refs name; naming the channel made
    the AsyncAPI HTML template render all 138 messages once per reply (see protocol.spec._reply)."""
    replies = [op["reply"] for op in document["operations"].values() if "reply" in op]
    assert len(replies) == len(m.RESULT_TYPES) + 1  # every request, and auth
    for reply in replies:
        assert set(reply) == {"messages"}
        assert all(ref["$ref"].startswith("#/channels/gateway/messages/") for ref in reply["messages"])


def test_no_schema_refers_to_itself(document: dict[str, Any]) -> None:
    """Documentation tools sample example payloads and loop on reference cycles (see protocol.spec)."""
    schemas = document["components"]["schemas"]

    def refs(node: Any) -> set[str]:
        if isinstance(node, dict):
            own = {node["$ref"].removeprefix("#/components/schemas/")} if "$ref" in node else set()
            return own.union(*(refs(v) for v in node.values()))
        if isinstance(node, list):
            return set().union(*(refs(v) for v in node))
        return set()

    edges = {name: refs(schema) for name, schema in schemas.items()}

    def reaches(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(edges[start])
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(edges[name])
        return seen

    assert [name for name in schemas if name in reaches(name)] == []


def test_an_embedded_post_is_one_level_deep(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for field in ("repost_of", "quote_of"):
        assert schemas["Post"]["properties"][field] == {
            "anyOf": [{"$ref": "#/components/schemas/EmbeddedPost"}, {"type": "null"}]
        }
        assert schemas["EmbeddedPost"]["properties"][field] == {"type": "null"}
    assert list(schemas["EmbeddedPost"]["properties"]) == list(schemas["Post"]["properties"])


def test_check_prints_where_the_document_is_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = spec.render().replace(b'"asyncapi": "3.0.0"', b'"asyncapi": "2.6.0"')
    path = tmp_path / "asyncapi.json"
    path.write_bytes(stale)
    monkeypatch.setattr(spec, "SPEC_PATH", path)
    assert spec.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert "is stale" in err
    assert '-  "asyncapi": "2.6.0",' in err
    assert '+  "asyncapi": "3.0.0",' in err
    path.write_bytes(spec.render())
    assert spec.main(["--check"]) == 0
