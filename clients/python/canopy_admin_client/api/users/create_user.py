from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.create_user_request import CreateUserRequest
from ...models.created_user import CreatedUser
from ...models.error_envelope import ErrorEnvelope
from ...types import Response


def _get_kwargs(
    *,
    body: CreateUserRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v0/users",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> CreatedUser | ErrorEnvelope | None:
    if response.status_code == 201:
        response_201 = CreatedUser.from_dict(response.json())

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
) -> Response[CreatedUser | ErrorEnvelope]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: CreateUserRequest,
) -> Response[CreatedUser | ErrorEnvelope]:
    """Create a user

     MCPJungle's user JSON. Without `access_token`, one is generated and answered once; a token
    another user or client holds is a 409. Only an owner creates an owner.

    Args:
        body (CreateUserRequest): `POST /api/v0/users`: MCPJungle's user JSON. Without
            `access_token`, Canopy generates one
            and answers it once.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CreatedUser | ErrorEnvelope]
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
    body: CreateUserRequest,
) -> CreatedUser | ErrorEnvelope | None:
    """Create a user

     MCPJungle's user JSON. Without `access_token`, one is generated and answered once; a token
    another user or client holds is a 409. Only an owner creates an owner.

    Args:
        body (CreateUserRequest): `POST /api/v0/users`: MCPJungle's user JSON. Without
            `access_token`, Canopy generates one
            and answers it once.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CreatedUser | ErrorEnvelope
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: CreateUserRequest,
) -> Response[CreatedUser | ErrorEnvelope]:
    """Create a user

     MCPJungle's user JSON. Without `access_token`, one is generated and answered once; a token
    another user or client holds is a 409. Only an owner creates an owner.

    Args:
        body (CreateUserRequest): `POST /api/v0/users`: MCPJungle's user JSON. Without
            `access_token`, Canopy generates one
            and answers it once.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CreatedUser | ErrorEnvelope]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: CreateUserRequest,
) -> CreatedUser | ErrorEnvelope | None:
    """Create a user

     MCPJungle's user JSON. Without `access_token`, one is generated and answered once; a token
    another user or client holds is a 409. Only an owner creates an owner.

    Args:
        body (CreateUserRequest): `POST /api/v0/users`: MCPJungle's user JSON. Without
            `access_token`, Canopy generates one
            and answers it once.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CreatedUser | ErrorEnvelope
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
