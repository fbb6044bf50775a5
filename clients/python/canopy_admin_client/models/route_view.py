from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="RouteView")


@_attrs_define
class RouteView:
    """The route the router picks (the same choice a submit makes).

    Attributes:
        backend (str): `local`, `ray`, ...
        capacity_source (str):
        routing_mode (str):
        status (str): `available` (free slots now) or `queued` (waits for a slot).
    """

    backend: str
    capacity_source: str
    routing_mode: str
    status: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        backend = self.backend

        capacity_source = self.capacity_source

        routing_mode = self.routing_mode

        status = self.status

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "backend": backend,
                "capacity_source": capacity_source,
                "routing_mode": routing_mode,
                "status": status,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        backend = d.pop("backend")

        capacity_source = d.pop("capacity_source")

        routing_mode = d.pop("routing_mode")

        status = d.pop("status")

        route_view = cls(
            backend=backend,
            capacity_source=capacity_source,
            routing_mode=routing_mode,
            status=status,
        )

        route_view.additional_properties = d
        return route_view

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
