from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_envelope import ErrorEnvelope
from ...models.job_view import JobView
from ...models.submit_job_request import SubmitJobRequest
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    body: SubmitJobRequest,
    idempotency_key: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v0/jobs",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorEnvelope | JobView | None:
    if response.status_code == 201:
        response_201 = JobView.from_dict(response.json())

        return response_201

    if response.status_code == 400:
        response_400 = ErrorEnvelope.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorEnvelope.from_dict(response.json())

        return response_401

    if response.status_code == 402:
        response_402 = ErrorEnvelope.from_dict(response.json())

        return response_402

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

    if response.status_code == 503:
        response_503 = ErrorEnvelope.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ErrorEnvelope | JobView]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: SubmitJobRequest,
    idempotency_key: str | Unset = UNSET,
) -> Response[ErrorEnvelope | JobView]:
    """Submit a job

     Jungle Grid's `submit_job` (aliases accepted). Holds the estimate's upper bound on the
    tenant's credits and queues the job; it may start compute and incur charges. With an
    `Idempotency-Key` (or the body's `idempotency_key`), a retried submit answers the job the
    first one created instead of queueing another; the same key with another body is 409.

    Args:
        idempotency_key (str | Unset):
        body (SubmitJobRequest): `submit_job`'s arguments (documentation of the body; aliases
            `workload`, string `command`
            and plain id strings in `input_files`/`script_files` are accepted too).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorEnvelope | JobView]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: SubmitJobRequest,
    idempotency_key: str | Unset = UNSET,
) -> ErrorEnvelope | JobView | None:
    """Submit a job

     Jungle Grid's `submit_job` (aliases accepted). Holds the estimate's upper bound on the
    tenant's credits and queues the job; it may start compute and incur charges. With an
    `Idempotency-Key` (or the body's `idempotency_key`), a retried submit answers the job the
    first one created instead of queueing another; the same key with another body is 409.

    Args:
        idempotency_key (str | Unset):
        body (SubmitJobRequest): `submit_job`'s arguments (documentation of the body; aliases
            `workload`, string `command`
            and plain id strings in `input_files`/`script_files` are accepted too).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorEnvelope | JobView
    """

    return sync_detailed(
        client=client,
        body=body,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: SubmitJobRequest,
    idempotency_key: str | Unset = UNSET,
) -> Response[ErrorEnvelope | JobView]:
    """Submit a job

     Jungle Grid's `submit_job` (aliases accepted). Holds the estimate's upper bound on the
    tenant's credits and queues the job; it may start compute and incur charges. With an
    `Idempotency-Key` (or the body's `idempotency_key`), a retried submit answers the job the
    first one created instead of queueing another; the same key with another body is 409.

    Args:
        idempotency_key (str | Unset):
        body (SubmitJobRequest): `submit_job`'s arguments (documentation of the body; aliases
            `workload`, string `command`
            and plain id strings in `input_files`/`script_files` are accepted too).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorEnvelope | JobView]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: SubmitJobRequest,
    idempotency_key: str | Unset = UNSET,
) -> ErrorEnvelope | JobView | None:
    """Submit a job

     Jungle Grid's `submit_job` (aliases accepted). Holds the estimate's upper bound on the
    tenant's credits and queues the job; it may start compute and incur charges. With an
    `Idempotency-Key` (or the body's `idempotency_key`), a retried submit answers the job the
    first one created instead of queueing another; the same key with another body is 409.

    Args:
        idempotency_key (str | Unset):
        body (SubmitJobRequest): `submit_job`'s arguments (documentation of the body; aliases
            `workload`, string `command`
            and plain id strings in `input_files`/`script_files` are accepted too).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorEnvelope | JobView
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            idempotency_key=idempotency_key,
        )
    ).parsed
