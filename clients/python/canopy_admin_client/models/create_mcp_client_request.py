from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="CreateMcpClientRequest")


@_attrs_define
class CreateMcpClientRequest:
    """`POST /api/v0/mcp-clients`: MCPJungle's MCP client JSON (`name`, `description`,
    `allowed_servers`), plus Canopy's `allowed_groups` and `allowed_tools`. Without
    `access_token`, Canopy generates one and answers it once.

        Attributes:
            name (str):
            access_token (None | str | Unset): A custom access token; omitted, one is generated and returned once.
            allowed_groups (list[str] | Unset): Groups whose members (as each group's rules say now) the client may use.
            allowed_servers (list[str] | Unset): Server names the client may use; `"*"` is every server, including future
                ones. Empty: none.
            allowed_tools (list[str] | Unset): Single tools the client may use, as `server__tool`.
            description (str | Unset):
    """

    name: str
    access_token: None | str | Unset = UNSET
    allowed_groups: list[str] | Unset = UNSET
    allowed_servers: list[str] | Unset = UNSET
    allowed_tools: list[str] | Unset = UNSET
    description: str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        access_token: None | str | Unset
        if isinstance(self.access_token, Unset):
            access_token = UNSET
        else:
            access_token = self.access_token

        allowed_groups: list[str] | Unset = UNSET
        if not isinstance(self.allowed_groups, Unset):
            allowed_groups = self.allowed_groups

        allowed_servers: list[str] | Unset = UNSET
        if not isinstance(self.allowed_servers, Unset):
            allowed_servers = self.allowed_servers

        allowed_tools: list[str] | Unset = UNSET
        if not isinstance(self.allowed_tools, Unset):
            allowed_tools = self.allowed_tools

        description = self.description

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
            }
        )
        if access_token is not UNSET:
            field_dict["access_token"] = access_token
        if allowed_groups is not UNSET:
            field_dict["allowed_groups"] = allowed_groups
        if allowed_servers is not UNSET:
            field_dict["allowed_servers"] = allowed_servers
        if allowed_tools is not UNSET:
            field_dict["allowed_tools"] = allowed_tools
        if description is not UNSET:
            field_dict["description"] = description

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        def _parse_access_token(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        access_token = _parse_access_token(d.pop("access_token", UNSET))

        allowed_groups = cast(list[str], d.pop("allowed_groups", UNSET))

        allowed_servers = cast(list[str], d.pop("allowed_servers", UNSET))

        allowed_tools = cast(list[str], d.pop("allowed_tools", UNSET))

        description = d.pop("description", UNSET)

        create_mcp_client_request = cls(
            name=name,
            access_token=access_token,
            allowed_groups=allowed_groups,
            allowed_servers=allowed_servers,
            allowed_tools=allowed_tools,
            description=description,
        )

        return create_mcp_client_request
