from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_envelope import ErrorEnvelope
from ...models.update_user_request import UpdateUserRequest
from ...models.user_view import UserView
from ...types import Response


def _get_kwargs(
    name: str,
    *,
    body: UpdateUserRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "patch",
        "url": "/api/v0/users/{name}".format(
            name=quote(str(name), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorEnvelope | UserView | None:
    if response.status_code == 200:
        response_200 = UserView.from_dict(response.json())

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

    if response.status_code == 404:
        response_404 = ErrorEnvelope.from_dict(response.json())

        return response_404

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
) -> Response[ErrorEnvelope | UserView]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    name: str,
    *,
    client: AuthenticatedClient,
    body: UpdateUserRequest,
) -> Response[ErrorEnvelope | UserView]:
    """Change a user's role

     `{"role": "admin"}`: `owner`, `admin` or `member`. Only an owner makes an owner or changes an
    owner's role; the tenant's last owner cannot be given another role (409: make another user
    owner first). The token is not changed; the new role applies from the user's next request.
    Setting the role a user already has changes nothing.

    Args:
        name (str):
        body (UpdateUserRequest): `PATCH /api/v0/users/{name}`: the user's new role. The token is
            not changed.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorEnvelope | UserView]
    """

    kwargs = _get_kwargs(
        name=name,
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    name: str,
    *,
    client: AuthenticatedClient,
    body: UpdateUserRequest,
) -> ErrorEnvelope | UserView | None:
    """Change a user's role

     `{"role": "admin"}`: `owner`, `admin` or `member`. Only an owner makes an owner or changes an
    owner's role; the tenant's last owner cannot be given another role (409: make another user
    owner first). The token is not changed; the new role applies from the user's next request.
    Setting the role a user already has changes nothing.

    Args:
        name (str):
        body (UpdateUserRequest): `PATCH /api/v0/users/{name}`: the user's new role. The token is
            not changed.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorEnvelope | UserView
    """

    return sync_detailed(
        name=name,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    name: str,
    *,
    client: AuthenticatedClient,
    body: UpdateUserRequest,
) -> Response[ErrorEnvelope | UserView]:
    """Change a user's role

     `{"role": "admin"}`: `owner`, `admin` or `member`. Only an owner makes an owner or changes an
    owner's role; the tenant's last owner cannot be given another role (409: make another user
    owner first). The token is not changed; the new role applies from the user's next request.
    Setting the role a user already has changes nothing.

    Args:
        name (str):
        body (UpdateUserRequest): `PATCH /api/v0/users/{name}`: the user's new role. The token is
            not changed.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorEnvelope | UserView]
    """

    kwargs = _get_kwargs(
        name=name,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    name: str,
    *,
    client: AuthenticatedClient,
    body: UpdateUserRequest,
) -> ErrorEnvelope | UserView | None:
    """Change a user's role

     `{"role": "admin"}`: `owner`, `admin` or `member`. Only an owner makes an owner or changes an
    owner's role; the tenant's last owner cannot be given another role (409: make another user
    owner first). The token is not changed; the new role applies from the user's next request.
    Setting the role a user already has changes nothing.

    Args:
        name (str):
        body (UpdateUserRequest): `PATCH /api/v0/users/{name}`: the user's new role. The token is
            not changed.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorEnvelope | UserView
    """

    return (
        await asyncio_detailed(
            name=name,
            client=client,
            body=body,
        )
    ).parsed
