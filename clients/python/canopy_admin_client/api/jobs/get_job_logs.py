from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_envelope import ErrorEnvelope
from ...models.job_logs_view import JobLogsView
from ...types import UNSET, Response, Unset


def _get_kwargs(
    id: str,
    *,
    limit: str | Unset = UNSET,
    cursor: str | Unset = UNSET,
    follow: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["limit"] = limit

    params["cursor"] = cursor

    params["follow"] = follow

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v0/jobs/{id}/logs".format(
            id=quote(str(id), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorEnvelope | JobLogsView | None:
    if response.status_code == 200:
        response_200 = JobLogsView.from_dict(response.json())

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

    if response.status_code == 500:
        response_500 = ErrorEnvelope.from_dict(response.json())

        return response_500

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ErrorEnvelope | JobLogsView]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    limit: str | Unset = UNSET,
    cursor: str | Unset = UNSET,
    follow: str | Unset = UNSET,
) -> Response[ErrorEnvelope | JobLogsView]:
    """A job's logs, paged or followed

     Stored lines after `cursor`. With `follow=true` the answer is `text/event-stream`: one
    `log` event per line (its `id` is the entry id, its data the entry's JSON) as the job prints
    it, then an `end` event once the job has ended and every line was sent (or after
    `jobs.follow_max_secs`).

    Args:
        id (str):
        limit (str | Unset):
        cursor (str | Unset):
        follow (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorEnvelope | JobLogsView]
    """

    kwargs = _get_kwargs(
        id=id,
        limit=limit,
        cursor=cursor,
        follow=follow,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    id: str,
    *,
    client: AuthenticatedClient,
    limit: str | Unset = UNSET,
    cursor: str | Unset = UNSET,
    follow: str | Unset = UNSET,
) -> ErrorEnvelope | JobLogsView | None:
    """A job's logs, paged or followed

     Stored lines after `cursor`. With `follow=true` the answer is `text/event-stream`: one
    `log` event per line (its `id` is the entry id, its data the entry's JSON) as the job prints
    it, then an `end` event once the job has ended and every line was sent (or after
    `jobs.follow_max_secs`).

    Args:
        id (str):
        limit (str | Unset):
        cursor (str | Unset):
        follow (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorEnvelope | JobLogsView
    """

    return sync_detailed(
        id=id,
        client=client,
        limit=limit,
        cursor=cursor,
        follow=follow,
    ).parsed


async def asyncio_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    limit: str | Unset = UNSET,
    cursor: str | Unset = UNSET,
    follow: str | Unset = UNSET,
) -> Response[ErrorEnvelope | JobLogsView]:
    """A job's logs, paged or followed

     Stored lines after `cursor`. With `follow=true` the answer is `text/event-stream`: one
    `log` event per line (its `id` is the entry id, its data the entry's JSON) as the job prints
    it, then an `end` event once the job has ended and every line was sent (or after
    `jobs.follow_max_secs`).

    Args:
        id (str):
        limit (str | Unset):
        cursor (str | Unset):
        follow (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorEnvelope | JobLogsView]
    """

    kwargs = _get_kwargs(
        id=id,
        limit=limit,
        cursor=cursor,
        follow=follow,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    id: str,
    *,
    client: AuthenticatedClient,
    limit: str | Unset = UNSET,
    cursor: str | Unset = UNSET,
    follow: str | Unset = UNSET,
) -> ErrorEnvelope | JobLogsView | None:
    """A job's logs, paged or followed

     Stored lines after `cursor`. With `follow=true` the answer is `text/event-stream`: one
    `log` event per line (its `id` is the entry id, its data the entry's JSON) as the job prints
    it, then an `end` event once the job has ended and every line was sent (or after
    `jobs.follow_max_secs`).

    Args:
        id (str):
        limit (str | Unset):
        cursor (str | Unset):
        follow (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorEnvelope | JobLogsView
    """

    return (
        await asyncio_detailed(
            id=id,
            client=client,
            limit=limit,
            cursor=cursor,
            follow=follow,
        )
    ).parsed
