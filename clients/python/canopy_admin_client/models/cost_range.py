from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.credit_amount import CreditAmount


T = TypeVar("T", bound="CostRange")


@_attrs_define
class CostRange:
    """
    Attributes:
        high (CreditAmount): An amount of credits, for people and for programs.
        low (CreditAmount): An amount of credits, for people and for programs.
        unit (str):
    """

    high: CreditAmount
    low: CreditAmount
    unit: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        high = self.high.to_dict()

        low = self.low.to_dict()

        unit = self.unit

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "high": high,
                "low": low,
                "unit": unit,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.credit_amount import CreditAmount  # noqa: PLC0415

        d = dict(src_dict)
        high = CreditAmount.from_dict(d.pop("high"))

        low = CreditAmount.from_dict(d.pop("low"))

        unit = d.pop("unit")

        cost_range = cls(
            high=high,
            low=low,
            unit=unit,
        )

        cost_range.additional_properties = d
        return cost_range

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
