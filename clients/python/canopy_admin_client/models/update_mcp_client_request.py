from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="UpdateMcpClientRequest")


@_attrs_define
class UpdateMcpClientRequest:
    """`PUT /api/v0/mcp-clients/{name}`: the client's new description and allow lists (each
    replaces the old one). The token is not changed.

        Attributes:
            allowed_groups (list[str] | Unset):
            allowed_servers (list[str] | Unset):
            allowed_tools (list[str] | Unset):
            description (str | Unset):
            name (str | Unset): If given, must match the URL (clients cannot be renamed).
    """

    allowed_groups: list[str] | Unset = UNSET
    allowed_servers: list[str] | Unset = UNSET
    allowed_tools: list[str] | Unset = UNSET
    description: str | Unset = UNSET
    name: str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
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

        name = self.name

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if allowed_groups is not UNSET:
            field_dict["allowed_groups"] = allowed_groups
        if allowed_servers is not UNSET:
            field_dict["allowed_servers"] = allowed_servers
        if allowed_tools is not UNSET:
            field_dict["allowed_tools"] = allowed_tools
        if description is not UNSET:
            field_dict["description"] = description
        if name is not UNSET:
            field_dict["name"] = name

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        allowed_groups = cast(list[str], d.pop("allowed_groups", UNSET))

        allowed_servers = cast(list[str], d.pop("allowed_servers", UNSET))

        allowed_tools = cast(list[str], d.pop("allowed_tools", UNSET))

        description = d.pop("description", UNSET)

        name = d.pop("name", UNSET)

        update_mcp_client_request = cls(
            allowed_groups=allowed_groups,
            allowed_servers=allowed_servers,
            allowed_tools=allowed_tools,
            description=description,
            name=name,
        )

        return update_mcp_client_request
