from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="LogEntryView")


@_attrs_define
class LogEntryView:
    """One stored log line.

    Attributes:
        category (str): `workload_stdout`, `workload_stderr` or `platform`.
        created_at (str):
        entry_id (str):
        message (str):
        source (str): `workload` or `platform`.
        stream (str): `stdout`, `stderr` or `platform`.
        truncated (bool): The line was longer than Canopy keeps and was cut.
    """

    category: str
    created_at: str
    entry_id: str
    message: str
    source: str
    stream: str
    truncated: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        category = self.category

        created_at = self.created_at

        entry_id = self.entry_id

        message = self.message

        source = self.source

        stream = self.stream

        truncated = self.truncated

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "category": category,
                "created_at": created_at,
                "entry_id": entry_id,
                "message": message,
                "source": source,
                "stream": stream,
                "truncated": truncated,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        category = d.pop("category")

        created_at = d.pop("created_at")

        entry_id = d.pop("entry_id")

        message = d.pop("message")

        source = d.pop("source")

        stream = d.pop("stream")

        truncated = d.pop("truncated")

        log_entry_view = cls(
            category=category,
            created_at=created_at,
            entry_id=entry_id,
            message=message,
            source=source,
            stream=stream,
            truncated=truncated,
        )

        log_entry_view.additional_properties = d
        return log_entry_view

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
