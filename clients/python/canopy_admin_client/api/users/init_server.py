from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_envelope import ErrorEnvelope
from ...models.initialized_server import InitializedServer
from ...types import Response


def _get_kwargs() -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v0/init-server",
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorEnvelope | InitializedServer | None:
    if response.status_code == 201:
        response_201 = InitializedServer.from_dict(response.json())

        return response_201

    if response.status_code == 400:
        response_400 = ErrorEnvelope.from_dict(response.json())

        return response_400

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
) -> Response[ErrorEnvelope | InitializedServer]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
) -> Response[ErrorEnvelope | InitializedServer]:
    """Initialize an enterprise deployment

     Creates the owner user `admin` in the default tenant and the first platform operator
    (`operator`: creates tenants, sees nothing inside them), and answers both access tokens, once.
    Needs no token, and works only while the default tenant has no user and no operator exists;
    afterwards it is a 409.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorEnvelope | InitializedServer]
    """

    kwargs = _get_kwargs()

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
) -> ErrorEnvelope | InitializedServer | None:
    """Initialize an enterprise deployment

     Creates the owner user `admin` in the default tenant and the first platform operator
    (`operator`: creates tenants, sees nothing inside them), and answers both access tokens, once.
    Needs no token, and works only while the default tenant has no user and no operator exists;
    afterwards it is a 409.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorEnvelope | InitializedServer
    """

    return sync_detailed(
        client=client,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
) -> Response[ErrorEnvelope | InitializedServer]:
    """Initialize an enterprise deployment

     Creates the owner user `admin` in the default tenant and the first platform operator
    (`operator`: creates tenants, sees nothing inside them), and answers both access tokens, once.
    Needs no token, and works only while the default tenant has no user and no operator exists;
    afterwards it is a 409.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorEnvelope | InitializedServer]
    """

    kwargs = _get_kwargs()

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
) -> ErrorEnvelope | InitializedServer | None:
    """Initialize an enterprise deployment

     Creates the owner user `admin` in the default tenant and the first platform operator
    (`operator`: creates tenants, sees nothing inside them), and answers both access tokens, once.
    Needs no token, and works only while the default tenant has no user and no operator exists;
    afterwards it is a 409.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorEnvelope | InitializedServer
    """

    return (
        await asyncio_detailed(
            client=client,
        )
    ).parsed
