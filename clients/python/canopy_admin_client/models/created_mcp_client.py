from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="CreatedMcpClient")


@_attrs_define
class CreatedMcpClient:
    """The answer to creating an MCP client: the client, and the access token when Canopy
    generated it. This is the only time the token is shown.

        Attributes:
            allowed_groups (list[str]):
            allowed_servers (list[str]):
            allowed_tools (list[str]):
            created_at (str):
            description (str):
            name (str):
            updated_at (str):
            access_token (None | str | Unset): The generated token; absent when the request supplied its own.
    """

    allowed_groups: list[str]
    allowed_servers: list[str]
    allowed_tools: list[str]
    created_at: str
    description: str
    name: str
    updated_at: str
    access_token: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        allowed_groups = self.allowed_groups

        allowed_servers = self.allowed_servers

        allowed_tools = self.allowed_tools

        created_at = self.created_at

        description = self.description

        name = self.name

        updated_at = self.updated_at

        access_token: None | str | Unset
        if isinstance(self.access_token, Unset):
            access_token = UNSET
        else:
            access_token = self.access_token

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
        if access_token is not UNSET:
            field_dict["access_token"] = access_token

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

        def _parse_access_token(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        access_token = _parse_access_token(d.pop("access_token", UNSET))

        created_mcp_client = cls(
            allowed_groups=allowed_groups,
            allowed_servers=allowed_servers,
            allowed_tools=allowed_tools,
            created_at=created_at,
            description=description,
            name=name,
            updated_at=updated_at,
            access_token=access_token,
        )

        created_mcp_client.additional_properties = d
        return created_mcp_client

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
