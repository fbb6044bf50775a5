from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.job_event_view import JobEventView


T = TypeVar("T", bound="JobEventsView")


@_attrs_define
class JobEventsView:
    """
    Attributes:
        events (list[JobEventView]):
        generated_at (str):
        job_id (str):
    """

    events: list[JobEventView]
    generated_at: str
    job_id: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        events = []
        for events_item_data in self.events:
            events_item = events_item_data.to_dict()
            events.append(events_item)

        generated_at = self.generated_at

        job_id = self.job_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "events": events,
                "generated_at": generated_at,
                "job_id": job_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.job_event_view import JobEventView  # noqa: PLC0415

        d = dict(src_dict)
        events = []
        _events = d.pop("events")
        for events_item_data in _events:
            events_item = JobEventView.from_dict(events_item_data)

            events.append(events_item)

        generated_at = d.pop("generated_at")

        job_id = d.pop("job_id")

        job_events_view = cls(
            events=events,
            generated_at=generated_at,
            job_id=job_id,
        )

        job_events_view.additional_properties = d
        return job_events_view

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
