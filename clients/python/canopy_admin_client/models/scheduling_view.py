from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="SchedulingView")


@_attrs_define
class SchedulingView:
    """How the job was placed.

    Attributes:
        backend (str):
        capacity_source (str):
        routing_mode (str):
        attempt (int | None | Unset): The attempt holding the job (a takeover is the next number).
        runner (None | str | Unset):
    """

    backend: str
    capacity_source: str
    routing_mode: str
    attempt: int | None | Unset = UNSET
    runner: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        backend = self.backend

        capacity_source = self.capacity_source

        routing_mode = self.routing_mode

        attempt: int | None | Unset
        if isinstance(self.attempt, Unset):
            attempt = UNSET
        else:
            attempt = self.attempt

        runner: None | str | Unset
        if isinstance(self.runner, Unset):
            runner = UNSET
        else:
            runner = self.runner

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "backend": backend,
                "capacity_source": capacity_source,
                "routing_mode": routing_mode,
            }
        )
        if attempt is not UNSET:
            field_dict["attempt"] = attempt
        if runner is not UNSET:
            field_dict["runner"] = runner

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        backend = d.pop("backend")

        capacity_source = d.pop("capacity_source")

        routing_mode = d.pop("routing_mode")

        def _parse_attempt(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        attempt = _parse_attempt(d.pop("attempt", UNSET))

        def _parse_runner(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        runner = _parse_runner(d.pop("runner", UNSET))

        scheduling_view = cls(
            backend=backend,
            capacity_source=capacity_source,
            routing_mode=routing_mode,
            attempt=attempt,
            runner=runner,
        )

        scheduling_view.additional_properties = d
        return scheduling_view

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
