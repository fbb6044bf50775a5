from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.create_mcp_client_request import CreateMcpClientRequest
from ...models.created_mcp_client import CreatedMcpClient
from ...models.error_envelope import ErrorEnvelope
from ...types import Response


def _get_kwargs(
    *,
    body: CreateMcpClientRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v0/mcp-clients",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> CreatedMcpClient | ErrorEnvelope | None:
    if response.status_code == 201:
        response_201 = CreatedMcpClient.from_dict(response.json())

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
) -> Response[CreatedMcpClient | ErrorEnvelope]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: CreateMcpClientRequest,
) -> Response[CreatedMcpClient | ErrorEnvelope]:
    """Create an MCP client

     MCPJungle's client JSON. Without `access_token`, one is generated and answered once; a token
    another user or client holds is a 409. Empty allow lists admit nothing.

    Args:
        body (CreateMcpClientRequest): `POST /api/v0/mcp-clients`: MCPJungle's MCP client JSON
            (`name`, `description`,
            `allowed_servers`), plus Canopy's `allowed_groups` and `allowed_tools`. Without
            `access_token`, Canopy generates one and answers it once.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CreatedMcpClient | ErrorEnvelope]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: CreateMcpClientRequest,
) -> CreatedMcpClient | ErrorEnvelope | None:
    """Create an MCP client

     MCPJungle's client JSON. Without `access_token`, one is generated and answered once; a token
    another user or client holds is a 409. Empty allow lists admit nothing.

    Args:
        body (CreateMcpClientRequest): `POST /api/v0/mcp-clients`: MCPJungle's MCP client JSON
            (`name`, `description`,
            `allowed_servers`), plus Canopy's `allowed_groups` and `allowed_tools`. Without
            `access_token`, Canopy generates one and answers it once.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CreatedMcpClient | ErrorEnvelope
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: CreateMcpClientRequest,
) -> Response[CreatedMcpClient | ErrorEnvelope]:
    """Create an MCP client

     MCPJungle's client JSON. Without `access_token`, one is generated and answered once; a token
    another user or client holds is a 409. Empty allow lists admit nothing.

    Args:
        body (CreateMcpClientRequest): `POST /api/v0/mcp-clients`: MCPJungle's MCP client JSON
            (`name`, `description`,
            `allowed_servers`), plus Canopy's `allowed_groups` and `allowed_tools`. Without
            `access_token`, Canopy generates one and answers it once.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CreatedMcpClient | ErrorEnvelope]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: CreateMcpClientRequest,
) -> CreatedMcpClient | ErrorEnvelope | None:
    """Create an MCP client

     MCPJungle's client JSON. Without `access_token`, one is generated and answered once; a token
    another user or client holds is a 409. Empty allow lists admit nothing.

    Args:
        body (CreateMcpClientRequest): `POST /api/v0/mcp-clients`: MCPJungle's MCP client JSON
            (`name`, `description`,
            `allowed_servers`), plus Canopy's `allowed_groups` and `allowed_tools`. Without
            `access_token`, Canopy generates one and answers it once.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CreatedMcpClient | ErrorEnvelope
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
