from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_envelope import ErrorEnvelope
from ...models.maintenance_view import MaintenanceView
from ...models.set_maintenance_request import SetMaintenanceRequest
from ...types import Response


def _get_kwargs(
    *,
    body: SetMaintenanceRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "put",
        "url": "/api/v0/maintenance",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorEnvelope | MaintenanceView | None:
    if response.status_code == 200:
        response_200 = MaintenanceView.from_dict(response.json())

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
) -> Response[ErrorEnvelope | MaintenanceView]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: SetMaintenanceRequest,
) -> Response[ErrorEnvelope | MaintenanceView]:
    """Turn maintenance on or off

     The platform operator only. While on, new job submissions are refused with
    `MAINTENANCE_ACTIVE` (503); queued and running jobs go on.

    Args:
        body (SetMaintenanceRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorEnvelope | MaintenanceView]
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
    body: SetMaintenanceRequest,
) -> ErrorEnvelope | MaintenanceView | None:
    """Turn maintenance on or off

     The platform operator only. While on, new job submissions are refused with
    `MAINTENANCE_ACTIVE` (503); queued and running jobs go on.

    Args:
        body (SetMaintenanceRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorEnvelope | MaintenanceView
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: SetMaintenanceRequest,
) -> Response[ErrorEnvelope | MaintenanceView]:
    """Turn maintenance on or off

     The platform operator only. While on, new job submissions are refused with
    `MAINTENANCE_ACTIVE` (503); queued and running jobs go on.

    Args:
        body (SetMaintenanceRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorEnvelope | MaintenanceView]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: SetMaintenanceRequest,
) -> ErrorEnvelope | MaintenanceView | None:
    """Turn maintenance on or off

     The platform operator only. While on, new job submissions are refused with
    `MAINTENANCE_ACTIVE` (503); queued and running jobs go on.

    Args:
        body (SetMaintenanceRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorEnvelope | MaintenanceView
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
