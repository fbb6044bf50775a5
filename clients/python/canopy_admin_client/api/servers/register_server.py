from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_envelope import ErrorEnvelope
from ...models.register_server_request import RegisterServerRequest
from ...models.server_view import ServerView
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    body: RegisterServerRequest,
    force: bool | Unset = UNSET,
    idempotency_key: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    params: dict[str, Any] = {}

    params["force"] = force

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v0/servers",
        "params": params,
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorEnvelope | ServerView | None:
    if response.status_code == 200:
        response_200 = ServerView.from_dict(response.json())

        return response_200

    if response.status_code == 201:
        response_201 = ServerView.from_dict(response.json())

        return response_201

    if response.status_code == 400:
        response_400 = ErrorEnvelope.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorEnvelope.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = ErrorEnvelope.from_dict(response.json())

        return response_403

    if response.status_code == 409:
        response_409 = ErrorEnvelope.from_dict(response.json())

        return response_409

    if response.status_code == 500:
        response_500 = ErrorEnvelope.from_dict(response.json())

        return response_500

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ErrorEnvelope | ServerView]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: RegisterServerRequest,
    force: bool | Unset = UNSET,
    idempotency_key: str | Unset = UNSET,
) -> Response[ErrorEnvelope | ServerView]:
    """Register an upstream MCP server

     Takes MCPJungle's registration JSON. Secrets (bearer token, header and env values) are
    sealed before they are stored and never shown again. Answers once the session-worker has
    discovered the server's catalog, or with `status: pending` if that takes longer than the
    configured wait.

    Args:
        force (bool | Unset):
        idempotency_key (str | Unset):
        body (RegisterServerRequest): MCPJungle's registration JSON (`mcpjungle register -c
            file.json`), accepted verbatim.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorEnvelope | ServerView]
    """

    kwargs = _get_kwargs(
        body=body,
        force=force,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: RegisterServerRequest,
    force: bool | Unset = UNSET,
    idempotency_key: str | Unset = UNSET,
) -> ErrorEnvelope | ServerView | None:
    """Register an upstream MCP server

     Takes MCPJungle's registration JSON. Secrets (bearer token, header and env values) are
    sealed before they are stored and never shown again. Answers once the session-worker has
    discovered the server's catalog, or with `status: pending` if that takes longer than the
    configured wait.

    Args:
        force (bool | Unset):
        idempotency_key (str | Unset):
        body (RegisterServerRequest): MCPJungle's registration JSON (`mcpjungle register -c
            file.json`), accepted verbatim.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorEnvelope | ServerView
    """

    return sync_detailed(
        client=client,
        body=body,
        force=force,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: RegisterServerRequest,
    force: bool | Unset = UNSET,
    idempotency_key: str | Unset = UNSET,
) -> Response[ErrorEnvelope | ServerView]:
    """Register an upstream MCP server

     Takes MCPJungle's registration JSON. Secrets (bearer token, header and env values) are
    sealed before they are stored and never shown again. Answers once the session-worker has
    discovered the server's catalog, or with `status: pending` if that takes longer than the
    configured wait.

    Args:
        force (bool | Unset):
        idempotency_key (str | Unset):
        body (RegisterServerRequest): MCPJungle's registration JSON (`mcpjungle register -c
            file.json`), accepted verbatim.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorEnvelope | ServerView]
    """

    kwargs = _get_kwargs(
        body=body,
        force=force,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: RegisterServerRequest,
    force: bool | Unset = UNSET,
    idempotency_key: str | Unset = UNSET,
) -> ErrorEnvelope | ServerView | None:
    """Register an upstream MCP server

     Takes MCPJungle's registration JSON. Secrets (bearer token, header and env values) are
    sealed before they are stored and never shown again. Answers once the session-worker has
    discovered the server's catalog, or with `status: pending` if that takes longer than the
    configured wait.

    Args:
        force (bool | Unset):
        idempotency_key (str | Unset):
        body (RegisterServerRequest): MCPJungle's registration JSON (`mcpjungle register -c
            file.json`), accepted verbatim.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorEnvelope | ServerView
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            force=force,
            idempotency_key=idempotency_key,
        )
    ).parsed
