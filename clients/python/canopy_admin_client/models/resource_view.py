from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.resource_view_definition import ResourceViewDefinition


T = TypeVar("T", bound="ResourceView")


@_attrs_define
class ResourceView:
    """A resource or resource template as `GET /api/v0/resources` lists it.

    Attributes:
        definition (ResourceViewDefinition): The MCP resource (or template) object as the upstream sent it.
        enabled (bool):
        is_template (bool):
        server (str):
        uri (str): `canopy://server/<upstream uri or uri template>`
    """

    definition: ResourceViewDefinition
    enabled: bool
    is_template: bool
    server: str
    uri: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        definition = self.definition.to_dict()

        enabled = self.enabled

        is_template = self.is_template

        server = self.server

        uri = self.uri

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "definition": definition,
                "enabled": enabled,
                "is_template": is_template,
                "server": server,
                "uri": uri,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.resource_view_definition import ResourceViewDefinition  # noqa: PLC0415

        d = dict(src_dict)
        definition = ResourceViewDefinition.from_dict(d.pop("definition"))

        enabled = d.pop("enabled")

        is_template = d.pop("is_template")

        server = d.pop("server")

        uri = d.pop("uri")

        resource_view = cls(
            definition=definition,
            enabled=enabled,
            is_template=is_template,
            server=server,
            uri=uri,
        )

        resource_view.additional_properties = d
        return resource_view

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
