from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_envelope import ErrorEnvelope
from ...models.estimate_job_request import EstimateJobRequest
from ...models.estimate_view import EstimateView
from ...types import Response


def _get_kwargs(
    *,
    body: EstimateJobRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v0/jobs/estimate",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorEnvelope | EstimateView | None:
    if response.status_code == 200:
        response_200 = EstimateView.from_dict(response.json())

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
) -> Response[ErrorEnvelope | EstimateView]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: EstimateJobRequest,
) -> Response[ErrorEnvelope | EstimateView]:
    """Estimate a job

     Jungle Grid's `estimate_job`: the classification, the route and capacity source the router
    would pick for a submit now, the estimated cost range (its upper bound is what a submit
    holds), availability and the tenant's queue ahead. Creates nothing; not a reservation.

    Args:
        body (EstimateJobRequest): `estimate_job`'s arguments: only `workload_type` is required.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorEnvelope | EstimateView]
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
    body: EstimateJobRequest,
) -> ErrorEnvelope | EstimateView | None:
    """Estimate a job

     Jungle Grid's `estimate_job`: the classification, the route and capacity source the router
    would pick for a submit now, the estimated cost range (its upper bound is what a submit
    holds), availability and the tenant's queue ahead. Creates nothing; not a reservation.

    Args:
        body (EstimateJobRequest): `estimate_job`'s arguments: only `workload_type` is required.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorEnvelope | EstimateView
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: EstimateJobRequest,
) -> Response[ErrorEnvelope | EstimateView]:
    """Estimate a job

     Jungle Grid's `estimate_job`: the classification, the route and capacity source the router
    would pick for a submit now, the estimated cost range (its upper bound is what a submit
    holds), availability and the tenant's queue ahead. Creates nothing; not a reservation.

    Args:
        body (EstimateJobRequest): `estimate_job`'s arguments: only `workload_type` is required.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorEnvelope | EstimateView]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: EstimateJobRequest,
) -> ErrorEnvelope | EstimateView | None:
    """Estimate a job

     Jungle Grid's `estimate_job`: the classification, the route and capacity source the router
    would pick for a submit now, the estimated cost range (its upper bound is what a submit
    holds), availability and the tenant's queue ahead. Creates nothing; not a reservation.

    Args:
        body (EstimateJobRequest): `estimate_job`'s arguments: only `workload_type` is required.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorEnvelope | EstimateView
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
