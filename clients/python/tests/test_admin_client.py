"""The generated Python admin client against a real Canopy (scripts/python-client-check.sh).

The script starts `canopy start` in development mode on a fresh database and the fixture MCP
server (`canopy-fixture-mcp --transport http`), then runs these tests with
CANOPY_URL=http://127.0.0.1:PORT and CANOPY_FIXTURE_URL=http://127.0.0.1:PORT/mcp. They run in
file order and share one registration: register the fixture, wait until it is ready, list its
tools, call two of them through POST /api/v0/tools/invoke, find the calls in the audit log, get
the error envelope of an unknown server as typed data, deregister.

Everything goes through canopy_admin_client, the package generated from openapi/canopy-api.json;
no request is written by hand.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from http import HTTPStatus
from typing import Any, TypeVar

import httpx
import pytest

from canopy_admin_client import Client
from canopy_admin_client.api.audit import list_audit
from canopy_admin_client.api.health import readyz
from canopy_admin_client.api.servers import deregister_server, get_server, list_servers, register_server
from canopy_admin_client.api.tools import get_tool, invoke_tool, list_tools
from canopy_admin_client.models import (
    AuditEntry,
    AuditKind,
    AuditOutcome,
    AuditPage,
    ErrorCode,
    ErrorEnvelope,
    InvokeToolRequest,
    InvokeToolResponse200,
    RegisterServerRequest,
    ServerView,
    ToolView,
)
from canopy_admin_client.types import UNSET

# The fixture's tools (libs/fixture-server/src/tools.rs, `catalogue`), started with --extra-tools 2.
FIXTURE_TOOLS = {"echo", "add", "fail", "slow", "whoami", "extra_0", "extra_1"}
SERVER = "pyfx"

T = TypeVar("T")


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the tests with scripts/python-client-check.sh")
    return value


def eventually(what: str, probe: Callable[[], T | None], seconds: float = 30.0) -> T:
    """Calls probe until it answers something other than None; fails after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        got = probe()
        if got is not None:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not after {seconds:.0f}s")
        time.sleep(0.2)


def canonical_sha256(arguments: dict[str, Any]) -> str:
    """The audit's arguments_sha256: SHA-256 of the arguments as canonical JSON."""
    text = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    # Development mode takes no token, so the plain Client (no Authorization header). The
    # generator annotates the operations with AuthenticatedClient (see clients/python/README.md).
    with Client(
        base_url=env("CANOPY_URL"), timeout=httpx.Timeout(60.0), raise_on_unexpected_status=True
    ) as c:
        yield c


@pytest.fixture(scope="module")
def registered(client: Client) -> ServerView:
    request = RegisterServerRequest(
        name=SERVER, url=env("CANOPY_FIXTURE_URL"), description="the fixture, from the Python client"
    )
    response = register_server.sync_detailed(
        client=client, body=request, idempotency_key=f"python-client-{uuid.uuid4()}"
    )
    assert response.status_code == HTTPStatus.CREATED, response.content
    assert isinstance(response.parsed, ServerView)
    return response.parsed


def test_readyz(client: Client) -> None:
    response = readyz.sync_detailed(client=client)
    assert response.status_code == HTTPStatus.OK, response.content


def test_register_and_wait_until_ready(client: Client, registered: ServerView) -> None:
    assert registered.name == SERVER
    assert registered.transport == "streamable_http"
    assert registered.url == env("CANOPY_FIXTURE_URL")

    def ready() -> ServerView | None:
        view = get_server.sync(name=SERVER, client=client)
        assert isinstance(view, ServerView), view
        assert view.status != "error", view.status_error
        return view if view.status == "ready" else None

    view = eventually(f"{SERVER} ready", ready)
    assert view.enabled
    assert view.tool_count == len(FIXTURE_TOOLS)
    assert view.description == "the fixture, from the Python client"

    servers = list_servers.sync(client=client)
    assert isinstance(servers, list)
    assert SERVER in {s.name for s in servers}


def test_list_tools(client: Client, registered: ServerView) -> None:
    tools = list_tools.sync(client=client, server=SERVER)
    assert isinstance(tools, list), tools
    assert all(isinstance(t, ToolView) for t in tools)
    assert {t.name for t in tools} == {f"{SERVER}__{name}" for name in FIXTURE_TOOLS}
    assert all(t.enabled for t in tools)

    echo = get_tool.sync(client=client, name=f"{SERVER}__echo")
    assert isinstance(echo, ToolView), echo
    assert echo.title == "Echo"
    assert echo.input_schema["required"] == ["message"]
    assert echo.input_schema["properties"]["message"]["type"] == "string"


def invoke(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    request = InvokeToolRequest.from_dict({"name": f"{SERVER}__{tool}", **arguments})
    response = invoke_tool.sync_detailed(client=client, body=request)
    assert response.status_code == HTTPStatus.OK, response.content
    assert isinstance(response.parsed, InvokeToolResponse200)
    return response.parsed.to_dict()  # the MCP CallToolResult


def text_of(result: dict[str, Any]) -> str:
    return "".join(c["text"] for c in result["content"] if c["type"] == "text")


def test_invoke_tools(client: Client, registered: ServerView) -> None:
    echoed = invoke(client, "echo", {"message": "hello from canopy_admin_client"})
    assert not echoed.get("isError"), echoed
    assert text_of(echoed) == "hello from canopy_admin_client"

    added = invoke(client, "add", {"a": 2, "b": 40})
    assert not added.get("isError"), added
    assert added["structuredContent"] == {"sum": 42}
    assert float(text_of(added)) == 42

    # A tool that fails is a 200 with isError, as the document says.
    failed = invoke(client, "fail", {"message": "on purpose"})
    assert failed["isError"] is True
    assert text_of(failed) == "on purpose"


def test_audit_has_the_calls(client: Client, registered: ServerView) -> None:
    want = canonical_sha256({"a": 2, "b": 40})

    def find_add() -> AuditEntry | None:
        page = list_audit.sync(client=client, kind=AuditKind.CALL, server=SERVER, name="add", limit=10)
        assert isinstance(page, AuditPage), page
        return next((e for e in page.entries if e.arguments_sha256 == want), None)

    entry = eventually("the add call in the audit log", find_add)
    assert entry.kind == AuditKind.CALL
    assert entry.outcome == AuditOutcome.OK
    assert entry.server == SERVER
    assert entry.name == "add"
    assert entry.method == "tools/call"
    assert entry.actor == "user:dev"
    assert entry.call_id not in (None, UNSET)

    def find_fail() -> AuditEntry | None:
        page = list_audit.sync(client=client, kind=AuditKind.CALL, server=SERVER, tool="fail")
        assert isinstance(page, AuditPage), page
        return page.entries[0] if page.entries else None

    failed = eventually("the fail call in the audit log", find_fail)
    assert failed.name == "fail"
    assert failed.arguments_sha256 == canonical_sha256({"message": "on purpose"})

    # The registration is there too, as an admin action on the server.
    page = list_audit.sync(client=client, kind=AuditKind.ADMIN, server=SERVER)
    assert isinstance(page, AuditPage), page
    assert "server.registered" in {e.event_type for e in page.entries}


def test_unknown_server_is_a_typed_404(client: Client) -> None:
    response = get_server.sync_detailed(name="no-such-server", client=client)
    assert response.status_code == HTTPStatus.NOT_FOUND
    envelope = response.parsed
    assert isinstance(envelope, ErrorEnvelope), envelope
    assert envelope.ok is False
    assert envelope.error.code is ErrorCode.NOT_FOUND
    assert "no-such-server" in envelope.error.message

    tools = list_tools.sync_detailed(client=client, server="no-such-server")
    assert tools.status_code == HTTPStatus.NOT_FOUND
    assert isinstance(tools.parsed, ErrorEnvelope)
    assert tools.parsed.error.code is ErrorCode.NOT_FOUND

    # An unknown tool through invoke: NOT_FOUND too, in the same envelope.
    request = InvokeToolRequest.from_dict({"name": "no-such-server__echo", "message": "x"})
    invoked = invoke_tool.sync_detailed(client=client, body=request)
    assert invoked.status_code == HTTPStatus.NOT_FOUND, invoked.content
    assert isinstance(invoked.parsed, ErrorEnvelope)
    assert invoked.parsed.error.code is ErrorCode.NOT_FOUND


def test_async_list_servers(registered: ServerView) -> None:
    async def names() -> set[str]:
        async with Client(base_url=env("CANOPY_URL"), timeout=httpx.Timeout(60.0)) as c:
            servers = await list_servers.asyncio(client=c)
            assert isinstance(servers, list), servers
            return {s.name for s in servers}

    assert SERVER in asyncio.run(names())


def test_deregister(client: Client, registered: ServerView) -> None:
    response = deregister_server.sync_detailed(name=SERVER, client=client)
    assert response.status_code == HTTPStatus.NO_CONTENT, response.content

    gone = get_server.sync_detailed(name=SERVER, client=client)
    assert gone.status_code == HTTPStatus.NOT_FOUND
    assert isinstance(gone.parsed, ErrorEnvelope)
    assert gone.parsed.error.code is ErrorCode.NOT_FOUND

    def tools_gone() -> bool | None:
        tools = list_tools.sync_detailed(client=client, server=SERVER)
        return True if tools.status_code == HTTPStatus.NOT_FOUND else None

    eventually(f"{SERVER}'s tools gone", tools_gone)
