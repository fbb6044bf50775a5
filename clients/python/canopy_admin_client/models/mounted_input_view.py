from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="MountedInputView")


@_attrs_define
class MountedInputView:
    """An uploaded input as a job mounts it.

    Attributes:
        content_type (str):
        filename (str):
        input_id (str):
        kind (str):
        mount_path (str):
        size_bytes (int):
    """

    content_type: str
    filename: str
    input_id: str
    kind: str
    mount_path: str
    size_bytes: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        content_type = self.content_type

        filename = self.filename

        input_id = self.input_id

        kind = self.kind

        mount_path = self.mount_path

        size_bytes = self.size_bytes

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "content_type": content_type,
                "filename": filename,
                "input_id": input_id,
                "kind": kind,
                "mount_path": mount_path,
                "size_bytes": size_bytes,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        content_type = d.pop("content_type")

        filename = d.pop("filename")

        input_id = d.pop("input_id")

        kind = d.pop("kind")

        mount_path = d.pop("mount_path")

        size_bytes = d.pop("size_bytes")

        mounted_input_view = cls(
            content_type=content_type,
            filename=filename,
            input_id=input_id,
            kind=kind,
            mount_path=mount_path,
            size_bytes=size_bytes,
        )

        mounted_input_view.additional_properties = d
        return mounted_input_view

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
