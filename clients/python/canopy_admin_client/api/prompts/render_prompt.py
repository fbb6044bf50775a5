from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_envelope import ErrorEnvelope
from ...models.render_prompt_request import RenderPromptRequest
from ...models.render_prompt_response_200 import RenderPromptResponse200
from ...types import Response


def _get_kwargs(
    *,
    body: RenderPromptRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v0/prompts/render",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorEnvelope | RenderPromptResponse200 | None:
    if response.status_code == 200:
        response_200 = RenderPromptResponse200.from_dict(response.json())

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

    if response.status_code == 429:
        response_429 = ErrorEnvelope.from_dict(response.json())

        return response_429

    if response.status_code == 500:
        response_500 = ErrorEnvelope.from_dict(response.json())

        return response_500

    if response.status_code == 502:
        response_502 = ErrorEnvelope.from_dict(response.json())

        return response_502

    if response.status_code == 504:
        response_504 = ErrorEnvelope.from_dict(response.json())

        return response_504

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ErrorEnvelope | RenderPromptResponse200]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: RenderPromptRequest,
) -> Response[ErrorEnvelope | RenderPromptResponse200]:
    """Render a prompt with arguments

     Goes through the same path as MCP `prompts/get`; a disabled prompt is refused. The answer
    is the MCP `GetPromptResult` (`description`, `messages`). Counts against the same rate limits
    as MCP calls (429 `RATE_LIMITED` with `Retry-After` when over one).

    Args:
        body (RenderPromptRequest): `POST /api/v0/prompts/render`

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorEnvelope | RenderPromptResponse200]
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
    body: RenderPromptRequest,
) -> ErrorEnvelope | RenderPromptResponse200 | None:
    """Render a prompt with arguments

     Goes through the same path as MCP `prompts/get`; a disabled prompt is refused. The answer
    is the MCP `GetPromptResult` (`description`, `messages`). Counts against the same rate limits
    as MCP calls (429 `RATE_LIMITED` with `Retry-After` when over one).

    Args:
        body (RenderPromptRequest): `POST /api/v0/prompts/render`

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorEnvelope | RenderPromptResponse200
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: RenderPromptRequest,
) -> Response[ErrorEnvelope | RenderPromptResponse200]:
    """Render a prompt with arguments

     Goes through the same path as MCP `prompts/get`; a disabled prompt is refused. The answer
    is the MCP `GetPromptResult` (`description`, `messages`). Counts against the same rate limits
    as MCP calls (429 `RATE_LIMITED` with `Retry-After` when over one).

    Args:
        body (RenderPromptRequest): `POST /api/v0/prompts/render`

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorEnvelope | RenderPromptResponse200]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: RenderPromptRequest,
) -> ErrorEnvelope | RenderPromptResponse200 | None:
    """Render a prompt with arguments

     Goes through the same path as MCP `prompts/get`; a disabled prompt is refused. The answer
    is the MCP `GetPromptResult` (`description`, `messages`). Counts against the same rate limits
    as MCP calls (429 `RATE_LIMITED` with `Retry-After` when over one).

    Args:
        body (RenderPromptRequest): `POST /api/v0/prompts/render`

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorEnvelope | RenderPromptResponse200
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
