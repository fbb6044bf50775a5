from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="EstimateJobRequest")


@_attrs_define
class EstimateJobRequest:
    """`estimate_job`'s arguments: only `workload_type` is required.

    Attributes:
        workload_type (str):
        args (list[str] | Unset):
        command (Any | Unset):
        image (None | str | Unset):
        model_size (float | None | Unset): Billions of parameters (`7`).
        notes (None | str | Unset):
        routing_mode (None | str | Unset):
        template (None | str | Unset):
    """

    workload_type: str
    args: list[str] | Unset = UNSET
    command: Any | Unset = UNSET
    image: None | str | Unset = UNSET
    model_size: float | None | Unset = UNSET
    notes: None | str | Unset = UNSET
    routing_mode: None | str | Unset = UNSET
    template: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        workload_type = self.workload_type

        args: list[str] | Unset = UNSET
        if not isinstance(self.args, Unset):
            args = self.args

        command = self.command

        image: None | str | Unset
        if isinstance(self.image, Unset):
            image = UNSET
        else:
            image = self.image

        model_size: float | None | Unset
        if isinstance(self.model_size, Unset):
            model_size = UNSET
        else:
            model_size = self.model_size

        notes: None | str | Unset
        if isinstance(self.notes, Unset):
            notes = UNSET
        else:
            notes = self.notes

        routing_mode: None | str | Unset
        if isinstance(self.routing_mode, Unset):
            routing_mode = UNSET
        else:
            routing_mode = self.routing_mode

        template: None | str | Unset
        if isinstance(self.template, Unset):
            template = UNSET
        else:
            template = self.template

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "workload_type": workload_type,
            }
        )
        if args is not UNSET:
            field_dict["args"] = args
        if command is not UNSET:
            field_dict["command"] = command
        if image is not UNSET:
            field_dict["image"] = image
        if model_size is not UNSET:
            field_dict["model_size"] = model_size
        if notes is not UNSET:
            field_dict["notes"] = notes
        if routing_mode is not UNSET:
            field_dict["routing_mode"] = routing_mode
        if template is not UNSET:
            field_dict["template"] = template

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        workload_type = d.pop("workload_type")

        args = cast(list[str], d.pop("args", UNSET))

        command = d.pop("command", UNSET)

        def _parse_image(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        image = _parse_image(d.pop("image", UNSET))

        def _parse_model_size(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        model_size = _parse_model_size(d.pop("model_size", UNSET))

        def _parse_notes(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        notes = _parse_notes(d.pop("notes", UNSET))

        def _parse_routing_mode(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        routing_mode = _parse_routing_mode(d.pop("routing_mode", UNSET))

        def _parse_template(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        template = _parse_template(d.pop("template", UNSET))

        estimate_job_request = cls(
            workload_type=workload_type,
            args=args,
            command=command,
            image=image,
            model_size=model_size,
            notes=notes,
            routing_mode=routing_mode,
            template=template,
        )

        estimate_job_request.additional_properties = d
        return estimate_job_request

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
