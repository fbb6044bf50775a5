from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="GroupRequest")


@_attrs_define
class GroupRequest:
    """`POST /api/v0/groups` and `PUT /api/v0/groups/{name}`: MCPJungle's group JSON, plus the
    same lists for prompts (`server__prompt`) and resources (`canopy://server/<uri>`).

        Attributes:
            description (str | Unset):
            excluded_prompts (list[str] | Unset):
            excluded_resources (list[str] | Unset):
            excluded_tools (list[str] | Unset):
            included_prompts (list[str] | Unset):
            included_resources (list[str] | Unset):
            included_servers (list[str] | Unset):
            included_tools (list[str] | Unset):
            name (str | Unset): Required to create; on update, if given, must match the URL.
    """

    description: str | Unset = UNSET
    excluded_prompts: list[str] | Unset = UNSET
    excluded_resources: list[str] | Unset = UNSET
    excluded_tools: list[str] | Unset = UNSET
    included_prompts: list[str] | Unset = UNSET
    included_resources: list[str] | Unset = UNSET
    included_servers: list[str] | Unset = UNSET
    included_tools: list[str] | Unset = UNSET
    name: str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        description = self.description

        excluded_prompts: list[str] | Unset = UNSET
        if not isinstance(self.excluded_prompts, Unset):
            excluded_prompts = self.excluded_prompts

        excluded_resources: list[str] | Unset = UNSET
        if not isinstance(self.excluded_resources, Unset):
            excluded_resources = self.excluded_resources

        excluded_tools: list[str] | Unset = UNSET
        if not isinstance(self.excluded_tools, Unset):
            excluded_tools = self.excluded_tools

        included_prompts: list[str] | Unset = UNSET
        if not isinstance(self.included_prompts, Unset):
            included_prompts = self.included_prompts

        included_resources: list[str] | Unset = UNSET
        if not isinstance(self.included_resources, Unset):
            included_resources = self.included_resources

        included_servers: list[str] | Unset = UNSET
        if not isinstance(self.included_servers, Unset):
            included_servers = self.included_servers

        included_tools: list[str] | Unset = UNSET
        if not isinstance(self.included_tools, Unset):
            included_tools = self.included_tools

        name = self.name

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if description is not UNSET:
            field_dict["description"] = description
        if excluded_prompts is not UNSET:
            field_dict["excluded_prompts"] = excluded_prompts
        if excluded_resources is not UNSET:
            field_dict["excluded_resources"] = excluded_resources
        if excluded_tools is not UNSET:
            field_dict["excluded_tools"] = excluded_tools
        if included_prompts is not UNSET:
            field_dict["included_prompts"] = included_prompts
        if included_resources is not UNSET:
            field_dict["included_resources"] = included_resources
        if included_servers is not UNSET:
            field_dict["included_servers"] = included_servers
        if included_tools is not UNSET:
            field_dict["included_tools"] = included_tools
        if name is not UNSET:
            field_dict["name"] = name

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        description = d.pop("description", UNSET)

        excluded_prompts = cast(list[str], d.pop("excluded_prompts", UNSET))

        excluded_resources = cast(list[str], d.pop("excluded_resources", UNSET))

        excluded_tools = cast(list[str], d.pop("excluded_tools", UNSET))

        included_prompts = cast(list[str], d.pop("included_prompts", UNSET))

        included_resources = cast(list[str], d.pop("included_resources", UNSET))

        included_servers = cast(list[str], d.pop("included_servers", UNSET))

        included_tools = cast(list[str], d.pop("included_tools", UNSET))

        name = d.pop("name", UNSET)

        group_request = cls(
            description=description,
            excluded_prompts=excluded_prompts,
            excluded_resources=excluded_resources,
            excluded_tools=excluded_tools,
            included_prompts=included_prompts,
            included_resources=included_resources,
            included_servers=included_servers,
            included_tools=included_tools,
            name=name,
        )

        return group_request
