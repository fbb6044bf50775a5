from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_envelope import ErrorEnvelope
from ...models.prompt_view import PromptView
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    server: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["server"] = server

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v0/prompts",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorEnvelope | list[PromptView] | None:
    if response.status_code == 200:
        response_200 = []
        _response_200 = response.json()
        for response_200_item_data in _response_200:
            response_200_item = PromptView.from_dict(response_200_item_data)

            response_200.append(response_200_item)

        return response_200

    if response.status_code == 400:
        response_400 = ErrorEnvelope.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorEnvelope.from_dict(response.json())

        return response_401

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
) -> Response[ErrorEnvelope | list[PromptView]]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    server: str | Unset = UNSET,
) -> Response[ErrorEnvelope | list[PromptView]]:
    """List prompts

     Every prompt of every server the caller may see (an MCP client: what its allow list
    admits), disabled ones included (see `enabled`).

    Args:
        server (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorEnvelope | list[PromptView]]
    """

    kwargs = _get_kwargs(
        server=server,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    server: str | Unset = UNSET,
) -> ErrorEnvelope | list[PromptView] | None:
    """List prompts

     Every prompt of every server the caller may see (an MCP client: what its allow list
    admits), disabled ones included (see `enabled`).

    Args:
        server (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorEnvelope | list[PromptView]
    """

    return sync_detailed(
        client=client,
        server=server,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    server: str | Unset = UNSET,
) -> Response[ErrorEnvelope | list[PromptView]]:
    """List prompts

     Every prompt of every server the caller may see (an MCP client: what its allow list
    admits), disabled ones included (see `enabled`).

    Args:
        server (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorEnvelope | list[PromptView]]
    """

    kwargs = _get_kwargs(
        server=server,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    server: str | Unset = UNSET,
) -> ErrorEnvelope | list[PromptView] | None:
    """List prompts

     Every prompt of every server the caller may see (an MCP client: what its allow list
    admits), disabled ones included (see `enabled`).

    Args:
        server (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorEnvelope | list[PromptView]
    """

    return (
        await asyncio_detailed(
            client=client,
            server=server,
        )
    ).parsed
