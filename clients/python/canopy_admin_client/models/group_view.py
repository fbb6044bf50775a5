from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="GroupView")


@_attrs_define
class GroupView:
    """A group as the API shows it, with the MCP endpoint that serves it.

    Attributes:
        created_at (str):
        description (str):
        endpoint (str): `PUBLIC_URL/v0/groups/NAME/mcp`
        excluded_prompts (list[str]):
        excluded_resources (list[str]):
        excluded_tools (list[str]):
        included_prompts (list[str]):
        included_resources (list[str]):
        included_servers (list[str]):
        included_tools (list[str]):
        name (str):
        updated_at (str):
    """

    created_at: str
    description: str
    endpoint: str
    excluded_prompts: list[str]
    excluded_resources: list[str]
    excluded_tools: list[str]
    included_prompts: list[str]
    included_resources: list[str]
    included_servers: list[str]
    included_tools: list[str]
    name: str
    updated_at: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at

        description = self.description

        endpoint = self.endpoint

        excluded_prompts = self.excluded_prompts

        excluded_resources = self.excluded_resources

        excluded_tools = self.excluded_tools

        included_prompts = self.included_prompts

        included_resources = self.included_resources

        included_servers = self.included_servers

        included_tools = self.included_tools

        name = self.name

        updated_at = self.updated_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "description": description,
                "endpoint": endpoint,
                "excluded_prompts": excluded_prompts,
                "excluded_resources": excluded_resources,
                "excluded_tools": excluded_tools,
                "included_prompts": included_prompts,
                "included_resources": included_resources,
                "included_servers": included_servers,
                "included_tools": included_tools,
                "name": name,
                "updated_at": updated_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        created_at = d.pop("created_at")

        description = d.pop("description")

        endpoint = d.pop("endpoint")

        excluded_prompts = cast(list[str], d.pop("excluded_prompts"))

        excluded_resources = cast(list[str], d.pop("excluded_resources"))

        excluded_tools = cast(list[str], d.pop("excluded_tools"))

        included_prompts = cast(list[str], d.pop("included_prompts"))

        included_resources = cast(list[str], d.pop("included_resources"))

        included_servers = cast(list[str], d.pop("included_servers"))

        included_tools = cast(list[str], d.pop("included_tools"))

        name = d.pop("name")

        updated_at = d.pop("updated_at")

        group_view = cls(
            created_at=created_at,
            description=description,
            endpoint=endpoint,
            excluded_prompts=excluded_prompts,
            excluded_resources=excluded_resources,
            excluded_tools=excluded_tools,
            included_prompts=included_prompts,
            included_resources=included_resources,
            included_servers=included_servers,
            included_tools=included_tools,
            name=name,
            updated_at=updated_at,
        )

        group_view.additional_properties = d
        return group_view

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
