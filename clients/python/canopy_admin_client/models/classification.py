from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="Classification")


@_attrs_define
class Classification:
    """What kind of work this is, as the router sees it.

    Attributes:
        accelerator (str): `cpu`: the configured backends run on CPUs.
        size_class (str): `small` (no model size, or under 3 B parameters), `medium` (under 20 B), `large`.
        workload_type (str):
    """

    accelerator: str
    size_class: str
    workload_type: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        accelerator = self.accelerator

        size_class = self.size_class

        workload_type = self.workload_type

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "accelerator": accelerator,
                "size_class": size_class,
                "workload_type": workload_type,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        accelerator = d.pop("accelerator")

        size_class = d.pop("size_class")

        workload_type = d.pop("workload_type")

        classification = cls(
            accelerator=accelerator,
            size_class=size_class,
            workload_type=workload_type,
        )

        classification.additional_properties = d
        return classification

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
