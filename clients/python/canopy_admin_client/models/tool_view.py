from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.tool_view_annotations_type_0 import ToolViewAnnotationsType0
    from ..models.tool_view_input_schema import ToolViewInputSchema
    from ..models.tool_view_output_schema_type_0 import ToolViewOutputSchemaType0


T = TypeVar("T", bound="ToolView")


@_attrs_define
class ToolView:
    """A tool as `GET /api/v0/tools` lists it (MCPJungle's shape, plus the rest of the MCP tool).

    Attributes:
        enabled (bool):
        input_schema (ToolViewInputSchema): The tool's JSON Schema for its arguments.
        name (str): `server__tool`
        annotations (None | ToolViewAnnotationsType0 | Unset): MCP tool annotations (`readOnlyHint`, ...), as the
            upstream sent them.
        description (None | str | Unset):
        output_schema (None | ToolViewOutputSchemaType0 | Unset): The tool's JSON Schema for its structured result, if
            it declares one.
        title (None | str | Unset):
    """

    enabled: bool
    input_schema: ToolViewInputSchema
    name: str
    annotations: None | ToolViewAnnotationsType0 | Unset = UNSET
    description: None | str | Unset = UNSET
    output_schema: None | ToolViewOutputSchemaType0 | Unset = UNSET
    title: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.tool_view_annotations_type_0 import ToolViewAnnotationsType0  # noqa: PLC0415
        from ..models.tool_view_output_schema_type_0 import ToolViewOutputSchemaType0  # noqa: PLC0415

        enabled = self.enabled

        input_schema = self.input_schema.to_dict()

        name = self.name

        annotations: dict[str, Any] | None | Unset
        if isinstance(self.annotations, Unset):
            annotations = UNSET
        elif isinstance(self.annotations, ToolViewAnnotationsType0):
            annotations = self.annotations.to_dict()
        else:
            annotations = self.annotations

        description: None | str | Unset
        if isinstance(self.description, Unset):
            description = UNSET
        else:
            description = self.description

        output_schema: dict[str, Any] | None | Unset
        if isinstance(self.output_schema, Unset):
            output_schema = UNSET
        elif isinstance(self.output_schema, ToolViewOutputSchemaType0):
            output_schema = self.output_schema.to_dict()
        else:
            output_schema = self.output_schema

        title: None | str | Unset
        if isinstance(self.title, Unset):
            title = UNSET
        else:
            title = self.title

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "enabled": enabled,
                "input_schema": input_schema,
                "name": name,
            }
        )
        if annotations is not UNSET:
            field_dict["annotations"] = annotations
        if description is not UNSET:
            field_dict["description"] = description
        if output_schema is not UNSET:
            field_dict["output_schema"] = output_schema
        if title is not UNSET:
            field_dict["title"] = title

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.tool_view_annotations_type_0 import ToolViewAnnotationsType0  # noqa: PLC0415
        from ..models.tool_view_input_schema import ToolViewInputSchema  # noqa: PLC0415
        from ..models.tool_view_output_schema_type_0 import ToolViewOutputSchemaType0  # noqa: PLC0415

        d = dict(src_dict)
        enabled = d.pop("enabled")

        input_schema = ToolViewInputSchema.from_dict(d.pop("input_schema"))

        name = d.pop("name")

        def _parse_annotations(data: object) -> None | ToolViewAnnotationsType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                annotations_type_0 = ToolViewAnnotationsType0.from_dict(data)

                return annotations_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | ToolViewAnnotationsType0 | Unset, data)

        annotations = _parse_annotations(d.pop("annotations", UNSET))

        def _parse_description(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        description = _parse_description(d.pop("description", UNSET))

        def _parse_output_schema(data: object) -> None | ToolViewOutputSchemaType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                output_schema_type_0 = ToolViewOutputSchemaType0.from_dict(data)

                return output_schema_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | ToolViewOutputSchemaType0 | Unset, data)

        output_schema = _parse_output_schema(d.pop("output_schema", UNSET))

        def _parse_title(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        title = _parse_title(d.pop("title", UNSET))

        tool_view = cls(
            enabled=enabled,
            input_schema=input_schema,
            name=name,
            annotations=annotations,
            description=description,
            output_schema=output_schema,
            title=title,
        )

        tool_view.additional_properties = d
        return tool_view

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
