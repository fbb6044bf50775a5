from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="McpClientView")


@_attrs_define
class McpClientView:
    """An MCP client as the API shows it. Tokens are never shown again after creation.

    Attributes:
        allowed_groups (list[str]):
        allowed_servers (list[str]):
        allowed_tools (list[str]):
        created_at (str):
        description (str):
        name (str):
        updated_at (str):
    """

    allowed_groups: list[str]
    allowed_servers: list[str]
    allowed_tools: list[str]
    created_at: str
    description: str
    name: str
    updated_at: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        allowed_groups = self.allowed_groups

        allowed_servers = self.allowed_servers

        allowed_tools = self.allowed_tools

        created_at = self.created_at

        description = self.description

        name = self.name

        updated_at = self.updated_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "allowed_groups": allowed_groups,
                "allowed_servers": allowed_servers,
                "allowed_tools": allowed_tools,
                "created_at": created_at,
                "description": description,
                "name": name,
                "updated_at": updated_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        allowed_groups = cast(list[str], d.pop("allowed_groups"))

        allowed_servers = cast(list[str], d.pop("allowed_servers"))

        allowed_tools = cast(list[str], d.pop("allowed_tools"))

        created_at = d.pop("created_at")

        description = d.pop("description")

        name = d.pop("name")

        updated_at = d.pop("updated_at")

        mcp_client_view = cls(
            allowed_groups=allowed_groups,
            allowed_servers=allowed_servers,
            allowed_tools=allowed_tools,
            created_at=created_at,
            description=description,
            name=name,
            updated_at=updated_at,
        )

        mcp_client_view.additional_properties = d
        return mcp_client_view

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
