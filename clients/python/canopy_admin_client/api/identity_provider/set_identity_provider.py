from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_envelope import ErrorEnvelope
from ...models.identity_provider_request import IdentityProviderRequest
from ...models.identity_provider_view import IdentityProviderView
from ...types import Response


def _get_kwargs(
    *,
    body: IdentityProviderRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "put",
        "url": "/api/v0/identity-provider",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorEnvelope | IdentityProviderView | None:
    if response.status_code == 200:
        response_200 = IdentityProviderView.from_dict(response.json())

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
) -> Response[ErrorEnvelope | IdentityProviderView]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: IdentityProviderRequest,
) -> Response[ErrorEnvelope | IdentityProviderView]:
    """Set the tenant's identity provider

     Users of the tenant can then sign in to OAuth clients (Claude, ChatGPT, the Inspector) with
    the organisation's own provider. The provider's discovery document is fetched now, so a
    wrong issuer is refused at once.

    Args:
        body (IdentityProviderRequest): `PUT /api/v0/identity-provider`: the tenant's own OpenID
            Connect provider, for single sign-on
            at Canopy's authorization server. Register Canopy at the provider as a confidential client
            with the redirect URI `{public_url}/oauth/oidc/callback`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorEnvelope | IdentityProviderView]
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
    body: IdentityProviderRequest,
) -> ErrorEnvelope | IdentityProviderView | None:
    """Set the tenant's identity provider

     Users of the tenant can then sign in to OAuth clients (Claude, ChatGPT, the Inspector) with
    the organisation's own provider. The provider's discovery document is fetched now, so a
    wrong issuer is refused at once.

    Args:
        body (IdentityProviderRequest): `PUT /api/v0/identity-provider`: the tenant's own OpenID
            Connect provider, for single sign-on
            at Canopy's authorization server. Register Canopy at the provider as a confidential client
            with the redirect URI `{public_url}/oauth/oidc/callback`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorEnvelope | IdentityProviderView
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: IdentityProviderRequest,
) -> Response[ErrorEnvelope | IdentityProviderView]:
    """Set the tenant's identity provider

     Users of the tenant can then sign in to OAuth clients (Claude, ChatGPT, the Inspector) with
    the organisation's own provider. The provider's discovery document is fetched now, so a
    wrong issuer is refused at once.

    Args:
        body (IdentityProviderRequest): `PUT /api/v0/identity-provider`: the tenant's own OpenID
            Connect provider, for single sign-on
            at Canopy's authorization server. Register Canopy at the provider as a confidential client
            with the redirect URI `{public_url}/oauth/oidc/callback`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorEnvelope | IdentityProviderView]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: IdentityProviderRequest,
) -> ErrorEnvelope | IdentityProviderView | None:
    """Set the tenant's identity provider

     Users of the tenant can then sign in to OAuth clients (Claude, ChatGPT, the Inspector) with
    the organisation's own provider. The provider's discovery document is fetched now, so a
    wrong issuer is refused at once.

    Args:
        body (IdentityProviderRequest): `PUT /api/v0/identity-provider`: the tenant's own OpenID
            Connect provider, for single sign-on
            at Canopy's authorization server. Register Canopy at the provider as a confidential client
            with the redirect URI `{public_url}/oauth/oidc/callback`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorEnvelope | IdentityProviderView
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
