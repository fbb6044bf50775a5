from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="JobEventView")


@_attrs_define
class JobEventView:
    """One lifecycle event of `get_job_events`.

    Attributes:
        created_at (str):
        id (str):
        level (str): `info`, `warning` or `error`.
        message (str):
        phase (str):
        sequence (int): The event's position in the job's stream, from 1.
        source (str): `api`, `scheduler` or `runner`.
        title (str):
        type_ (str):
    """

    created_at: str
    id: str
    level: str
    message: str
    phase: str
    sequence: int
    source: str
    title: str
    type_: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at

        id = self.id

        level = self.level

        message = self.message

        phase = self.phase

        sequence = self.sequence

        source = self.source

        title = self.title

        type_ = self.type_

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "id": id,
                "level": level,
                "message": message,
                "phase": phase,
                "sequence": sequence,
                "source": source,
                "title": title,
                "type": type_,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        created_at = d.pop("created_at")

        id = d.pop("id")

        level = d.pop("level")

        message = d.pop("message")

        phase = d.pop("phase")

        sequence = d.pop("sequence")

        source = d.pop("source")

        title = d.pop("title")

        type_ = d.pop("type")

        job_event_view = cls(
            created_at=created_at,
            id=id,
            level=level,
            message=message,
            phase=phase,
            sequence=sequence,
            source=source,
            title=title,
            type_=type_,
        )

        job_event_view.additional_properties = d
        return job_event_view

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
