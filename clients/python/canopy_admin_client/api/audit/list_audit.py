from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.audit_kind import AuditKind
from ...models.audit_outcome import AuditOutcome
from ...models.audit_page import AuditPage
from ...models.error_envelope import ErrorEnvelope
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    kind: AuditKind | Unset = UNSET,
    actor: str | Unset = UNSET,
    server: str | Unset = UNSET,
    name: str | Unset = UNSET,
    tool: str | Unset = UNSET,
    outcome: AuditOutcome | Unset = UNSET,
    since: str | Unset = UNSET,
    until: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_kind: str | Unset = UNSET
    if not isinstance(kind, Unset):
        json_kind = kind.value

    params["kind"] = json_kind

    params["actor"] = actor

    params["server"] = server

    params["name"] = name

    params["tool"] = tool

    json_outcome: str | Unset = UNSET
    if not isinstance(outcome, Unset):
        json_outcome = outcome.value

    params["outcome"] = json_outcome

    params["since"] = since

    params["until"] = until

    params["limit"] = limit

    params["cursor"] = cursor

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v0/audit",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> AuditPage | ErrorEnvelope | None:
    if response.status_code == 200:
        response_200 = AuditPage.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = ErrorEnvelope.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorEnvelope.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = ErrorEnvelope.from_dict(response.json())

        return response_403

    if response.status_code == 500:
        response_500 = ErrorEnvelope.from_dict(response.json())

        return response_500

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[AuditPage | ErrorEnvelope]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    kind: AuditKind | Unset = UNSET,
    actor: str | Unset = UNSET,
    server: str | Unset = UNSET,
    name: str | Unset = UNSET,
    tool: str | Unset = UNSET,
    outcome: AuditOutcome | Unset = UNSET,
    since: str | Unset = UNSET,
    until: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> Response[AuditPage | ErrorEnvelope]:
    """Audit log

     The caller's tenant's admin actions (every change, with its actor; never the change's
    payload) and calls (tool calls, prompt gets, resource reads, ...: caller, server, name,
    SHA-256 of the arguments, outcome, latency), newest first, filtered, a page at a time.
    Owners and admins only. Follow `next_cursor` for older entries; paging never repeats an
    entry, whatever is recorded meanwhile.

    Args:
        kind (AuditKind | Unset): Which entries: `call` (tool calls, prompt gets, resource reads,
            ...) or `admin` (changes).
        actor (str | Unset):
        server (str | Unset):
        name (str | Unset):
        tool (str | Unset):
        outcome (AuditOutcome | Unset): `ok`; `tool_error` (the tool answered with `isError:
            true`); `error` (no result: the
            upstream failed, timed out, was unreachable, or the call was cancelled; see `error_code`).
            Admin entries are always `ok`: a refused change leaves no event.
        since (str | Unset):
        until (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AuditPage | ErrorEnvelope]
    """

    kwargs = _get_kwargs(
        kind=kind,
        actor=actor,
        server=server,
        name=name,
        tool=tool,
        outcome=outcome,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    kind: AuditKind | Unset = UNSET,
    actor: str | Unset = UNSET,
    server: str | Unset = UNSET,
    name: str | Unset = UNSET,
    tool: str | Unset = UNSET,
    outcome: AuditOutcome | Unset = UNSET,
    since: str | Unset = UNSET,
    until: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> AuditPage | ErrorEnvelope | None:
    """Audit log

     The caller's tenant's admin actions (every change, with its actor; never the change's
    payload) and calls (tool calls, prompt gets, resource reads, ...: caller, server, name,
    SHA-256 of the arguments, outcome, latency), newest first, filtered, a page at a time.
    Owners and admins only. Follow `next_cursor` for older entries; paging never repeats an
    entry, whatever is recorded meanwhile.

    Args:
        kind (AuditKind | Unset): Which entries: `call` (tool calls, prompt gets, resource reads,
            ...) or `admin` (changes).
        actor (str | Unset):
        server (str | Unset):
        name (str | Unset):
        tool (str | Unset):
        outcome (AuditOutcome | Unset): `ok`; `tool_error` (the tool answered with `isError:
            true`); `error` (no result: the
            upstream failed, timed out, was unreachable, or the call was cancelled; see `error_code`).
            Admin entries are always `ok`: a refused change leaves no event.
        since (str | Unset):
        until (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AuditPage | ErrorEnvelope
    """

    return sync_detailed(
        client=client,
        kind=kind,
        actor=actor,
        server=server,
        name=name,
        tool=tool,
        outcome=outcome,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    kind: AuditKind | Unset = UNSET,
    actor: str | Unset = UNSET,
    server: str | Unset = UNSET,
    name: str | Unset = UNSET,
    tool: str | Unset = UNSET,
    outcome: AuditOutcome | Unset = UNSET,
    since: str | Unset = UNSET,
    until: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> Response[AuditPage | ErrorEnvelope]:
    """Audit log

     The caller's tenant's admin actions (every change, with its actor; never the change's
    payload) and calls (tool calls, prompt gets, resource reads, ...: caller, server, name,
    SHA-256 of the arguments, outcome, latency), newest first, filtered, a page at a time.
    Owners and admins only. Follow `next_cursor` for older entries; paging never repeats an
    entry, whatever is recorded meanwhile.

    Args:
        kind (AuditKind | Unset): Which entries: `call` (tool calls, prompt gets, resource reads,
            ...) or `admin` (changes).
        actor (str | Unset):
        server (str | Unset):
        name (str | Unset):
        tool (str | Unset):
        outcome (AuditOutcome | Unset): `ok`; `tool_error` (the tool answered with `isError:
            true`); `error` (no result: the
            upstream failed, timed out, was unreachable, or the call was cancelled; see `error_code`).
            Admin entries are always `ok`: a refused change leaves no event.
        since (str | Unset):
        until (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AuditPage | ErrorEnvelope]
    """

    kwargs = _get_kwargs(
        kind=kind,
        actor=actor,
        server=server,
        name=name,
        tool=tool,
        outcome=outcome,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    kind: AuditKind | Unset = UNSET,
    actor: str | Unset = UNSET,
    server: str | Unset = UNSET,
    name: str | Unset = UNSET,
    tool: str | Unset = UNSET,
    outcome: AuditOutcome | Unset = UNSET,
    since: str | Unset = UNSET,
    until: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> AuditPage | ErrorEnvelope | None:
    """Audit log

     The caller's tenant's admin actions (every change, with its actor; never the change's
    payload) and calls (tool calls, prompt gets, resource reads, ...: caller, server, name,
    SHA-256 of the arguments, outcome, latency), newest first, filtered, a page at a time.
    Owners and admins only. Follow `next_cursor` for older entries; paging never repeats an
    entry, whatever is recorded meanwhile.

    Args:
        kind (AuditKind | Unset): Which entries: `call` (tool calls, prompt gets, resource reads,
            ...) or `admin` (changes).
        actor (str | Unset):
        server (str | Unset):
        name (str | Unset):
        tool (str | Unset):
        outcome (AuditOutcome | Unset): `ok`; `tool_error` (the tool answered with `isError:
            true`); `error` (no result: the
            upstream failed, timed out, was unreachable, or the call was cancelled; see `error_code`).
            Admin entries are always `ok`: a refused change leaves no event.
        since (str | Unset):
        until (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AuditPage | ErrorEnvelope
    """

    return (
        await asyncio_detailed(
            client=client,
            kind=kind,
            actor=actor,
            server=server,
            name=name,
            tool=tool,
            outcome=outcome,
            since=since,
            until=until,
            limit=limit,
            cursor=cursor,
        )
    ).parsed
