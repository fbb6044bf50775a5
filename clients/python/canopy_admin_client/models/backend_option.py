from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.credit_amount import CreditAmount


T = TypeVar("T", bound="BackendOption")


@_attrs_define
class BackendOption:
    """One configured backend as the router weighed it.

    Attributes:
        backend (str):
        capacity_source (str): `live` (pollers reported within the staleness window) or `unreported`.
        credits_per_hour (CreditAmount): An amount of credits, for people and for programs.
        runs_image (bool): Whether it runs the requested image.
        start_fee (CreditAmount): An amount of credits, for people and for programs.
        free_slots (int | None | Unset): Free slots its pollers reported recently; `null` when none reported.
    """

    backend: str
    capacity_source: str
    credits_per_hour: CreditAmount
    runs_image: bool
    start_fee: CreditAmount
    free_slots: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        backend = self.backend

        capacity_source = self.capacity_source

        credits_per_hour = self.credits_per_hour.to_dict()

        runs_image = self.runs_image

        start_fee = self.start_fee.to_dict()

        free_slots: int | None | Unset
        if isinstance(self.free_slots, Unset):
            free_slots = UNSET
        else:
            free_slots = self.free_slots

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "backend": backend,
                "capacity_source": capacity_source,
                "credits_per_hour": credits_per_hour,
                "runs_image": runs_image,
                "start_fee": start_fee,
            }
        )
        if free_slots is not UNSET:
            field_dict["free_slots"] = free_slots

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.credit_amount import CreditAmount  # noqa: PLC0415

        d = dict(src_dict)
        backend = d.pop("backend")

        capacity_source = d.pop("capacity_source")

        credits_per_hour = CreditAmount.from_dict(d.pop("credits_per_hour"))

        runs_image = d.pop("runs_image")

        start_fee = CreditAmount.from_dict(d.pop("start_fee"))

        def _parse_free_slots(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        free_slots = _parse_free_slots(d.pop("free_slots", UNSET))

        backend_option = cls(
            backend=backend,
            capacity_source=capacity_source,
            credits_per_hour=credits_per_hour,
            runs_image=runs_image,
            start_fee=start_fee,
            free_slots=free_slots,
        )

        backend_option.additional_properties = d
        return backend_option

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
