from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="JobInputView")


@_attrs_define
class JobInputView:
    """
    Attributes:
        content_type (str):
        created_at (str):
        filename (str):
        input_id (str):
        kind (str):
        max_size_bytes (int):
        mount_path (str):
        ready (bool):
        status (str): `pending` (waiting for its upload) or `ready`.
        updated_at (str):
        size_bytes (int | None | Unset):
    """

    content_type: str
    created_at: str
    filename: str
    input_id: str
    kind: str
    max_size_bytes: int
    mount_path: str
    ready: bool
    status: str
    updated_at: str
    size_bytes: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        content_type = self.content_type

        created_at = self.created_at

        filename = self.filename

        input_id = self.input_id

        kind = self.kind

        max_size_bytes = self.max_size_bytes

        mount_path = self.mount_path

        ready = self.ready

        status = self.status

        updated_at = self.updated_at

        size_bytes: int | None | Unset
        if isinstance(self.size_bytes, Unset):
            size_bytes = UNSET
        else:
            size_bytes = self.size_bytes

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "content_type": content_type,
                "created_at": created_at,
                "filename": filename,
                "input_id": input_id,
                "kind": kind,
                "max_size_bytes": max_size_bytes,
                "mount_path": mount_path,
                "ready": ready,
                "status": status,
                "updated_at": updated_at,
            }
        )
        if size_bytes is not UNSET:
            field_dict["size_bytes"] = size_bytes

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        content_type = d.pop("content_type")

        created_at = d.pop("created_at")

        filename = d.pop("filename")

        input_id = d.pop("input_id")

        kind = d.pop("kind")

        max_size_bytes = d.pop("max_size_bytes")

        mount_path = d.pop("mount_path")

        ready = d.pop("ready")

        status = d.pop("status")

        updated_at = d.pop("updated_at")

        def _parse_size_bytes(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        size_bytes = _parse_size_bytes(d.pop("size_bytes", UNSET))

        job_input_view = cls(
            content_type=content_type,
            created_at=created_at,
            filename=filename,
            input_id=input_id,
            kind=kind,
            max_size_bytes=max_size_bytes,
            mount_path=mount_path,
            ready=ready,
            status=status,
            updated_at=updated_at,
            size_bytes=size_bytes,
        )

        job_input_view.additional_properties = d
        return job_input_view

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
