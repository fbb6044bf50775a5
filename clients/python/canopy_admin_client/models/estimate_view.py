from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.backend_option import BackendOption
    from ..models.classification import Classification
    from ..models.cost_range import CostRange
    from ..models.route_view import RouteView


T = TypeVar("T", bound="EstimateView")


@_attrs_define
class EstimateView:
    """`estimate_job`: classification, route, capacity source, cost range, availability and the
    queue ahead. Not a reservation.

        Attributes:
            alternatives (list[BackendOption]): Every configured backend as it was weighed.
            availability (str): `available`, `queued` or `unavailable`.
            capacity_source (str):
            classification (Classification): What kind of work this is, as the router sees it.
            max_duration_seconds (int): The longest a job of this tenant may run (its quota); the cost range's upper bound.
            queue_ahead (int): The tenant's jobs queued now, ahead of a new one.
            screening (list[str]): Why a backend was or was not chosen, and what was assumed.
            estimated_cost (CostRange | None | Unset):
            route (None | RouteView | Unset):
    """

    alternatives: list[BackendOption]
    availability: str
    capacity_source: str
    classification: Classification
    max_duration_seconds: int
    queue_ahead: int
    screening: list[str]
    estimated_cost: CostRange | None | Unset = UNSET
    route: None | RouteView | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.cost_range import CostRange  # noqa: PLC0415
        from ..models.route_view import RouteView  # noqa: PLC0415

        alternatives = []
        for alternatives_item_data in self.alternatives:
            alternatives_item = alternatives_item_data.to_dict()
            alternatives.append(alternatives_item)

        availability = self.availability

        capacity_source = self.capacity_source

        classification = self.classification.to_dict()

        max_duration_seconds = self.max_duration_seconds

        queue_ahead = self.queue_ahead

        screening = self.screening

        estimated_cost: dict[str, Any] | None | Unset
        if isinstance(self.estimated_cost, Unset):
            estimated_cost = UNSET
        elif isinstance(self.estimated_cost, CostRange):
            estimated_cost = self.estimated_cost.to_dict()
        else:
            estimated_cost = self.estimated_cost

        route: dict[str, Any] | None | Unset
        if isinstance(self.route, Unset):
            route = UNSET
        elif isinstance(self.route, RouteView):
            route = self.route.to_dict()
        else:
            route = self.route

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "alternatives": alternatives,
                "availability": availability,
                "capacity_source": capacity_source,
                "classification": classification,
                "max_duration_seconds": max_duration_seconds,
                "queue_ahead": queue_ahead,
                "screening": screening,
            }
        )
        if estimated_cost is not UNSET:
            field_dict["estimated_cost"] = estimated_cost
        if route is not UNSET:
            field_dict["route"] = route

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.backend_option import BackendOption  # noqa: PLC0415
        from ..models.classification import Classification  # noqa: PLC0415
        from ..models.cost_range import CostRange  # noqa: PLC0415
        from ..models.route_view import RouteView  # noqa: PLC0415

        d = dict(src_dict)
        alternatives = []
        _alternatives = d.pop("alternatives")
        for alternatives_item_data in _alternatives:
            alternatives_item = BackendOption.from_dict(alternatives_item_data)

            alternatives.append(alternatives_item)

        availability = d.pop("availability")

        capacity_source = d.pop("capacity_source")

        classification = Classification.from_dict(d.pop("classification"))

        max_duration_seconds = d.pop("max_duration_seconds")

        queue_ahead = d.pop("queue_ahead")

        screening = cast(list[str], d.pop("screening"))

        def _parse_estimated_cost(data: object) -> CostRange | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                estimated_cost_type_0 = CostRange.from_dict(data)

                return estimated_cost_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(CostRange | None | Unset, data)

        estimated_cost = _parse_estimated_cost(d.pop("estimated_cost", UNSET))

        def _parse_route(data: object) -> None | RouteView | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                route_type_0 = RouteView.from_dict(data)

                return route_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | RouteView | Unset, data)

        route = _parse_route(d.pop("route", UNSET))

        estimate_view = cls(
            alternatives=alternatives,
            availability=availability,
            capacity_source=capacity_source,
            classification=classification,
            max_duration_seconds=max_duration_seconds,
            queue_ahead=queue_ahead,
            screening=screening,
            estimated_cost=estimated_cost,
            route=route,
        )

        estimate_view.additional_properties = d
        return estimate_view

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
