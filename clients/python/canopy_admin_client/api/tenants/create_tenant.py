from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.create_tenant_request import CreateTenantRequest
from ...models.created_tenant import CreatedTenant
from ...models.error_envelope import ErrorEnvelope
from ...types import Response


def _get_kwargs(
    *,
    body: CreateTenantRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v0/tenants",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> CreatedTenant | ErrorEnvelope | None:
    if response.status_code == 201:
        response_201 = CreatedTenant.from_dict(response.json())

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
) -> Response[CreatedTenant | ErrorEnvelope]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: CreateTenantRequest,
) -> Response[CreatedTenant | ErrorEnvelope]:
    """Create a tenant

     The operator only. Creates the tenant and its first user, an owner; without
    `owner_access_token` the owner's token is generated and answered once. A token another
    identity holds is a 409, checked before anything is created.

    Args:
        body (CreateTenantRequest): `POST /api/v0/tenants` (the operator only): a tenant and its
            first owner. Without
            `owner_access_token`, the owner's token is generated and answered once.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CreatedTenant | ErrorEnvelope]
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
    body: CreateTenantRequest,
) -> CreatedTenant | ErrorEnvelope | None:
    """Create a tenant

     The operator only. Creates the tenant and its first user, an owner; without
    `owner_access_token` the owner's token is generated and answered once. A token another
    identity holds is a 409, checked before anything is created.

    Args:
        body (CreateTenantRequest): `POST /api/v0/tenants` (the operator only): a tenant and its
            first owner. Without
            `owner_access_token`, the owner's token is generated and answered once.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CreatedTenant | ErrorEnvelope
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: CreateTenantRequest,
) -> Response[CreatedTenant | ErrorEnvelope]:
    """Create a tenant

     The operator only. Creates the tenant and its first user, an owner; without
    `owner_access_token` the owner's token is generated and answered once. A token another
    identity holds is a 409, checked before anything is created.

    Args:
        body (CreateTenantRequest): `POST /api/v0/tenants` (the operator only): a tenant and its
            first owner. Without
            `owner_access_token`, the owner's token is generated and answered once.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CreatedTenant | ErrorEnvelope]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: CreateTenantRequest,
) -> CreatedTenant | ErrorEnvelope | None:
    """Create a tenant

     The operator only. Creates the tenant and its first user, an owner; without
    `owner_access_token` the owner's token is generated and answered once. A token another
    identity holds is a 409, checked before anything is created.

    Args:
        body (CreateTenantRequest): `POST /api/v0/tenants` (the operator only): a tenant and its
            first owner. Without
            `owner_access_token`, the owner's token is generated and answered once.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CreatedTenant | ErrorEnvelope
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
