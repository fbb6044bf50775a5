from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.credit_amount import CreditAmount


T = TypeVar("T", bound="CreditsView")


@_attrs_define
class CreditsView:
    """A tenant's credits.

    Attributes:
        available (CreditAmount): An amount of credits, for people and for programs.
        granted (CreditAmount): An amount of credits, for people and for programs.
        held (CreditAmount): An amount of credits, for people and for programs.
        policy (str): `enforced`, or `unlimited` (development: holds never refused).
        spent (CreditAmount): An amount of credits, for people and for programs.
        tenant (str):
    """

    available: CreditAmount
    granted: CreditAmount
    held: CreditAmount
    policy: str
    spent: CreditAmount
    tenant: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        available = self.available.to_dict()

        granted = self.granted.to_dict()

        held = self.held.to_dict()

        policy = self.policy

        spent = self.spent.to_dict()

        tenant = self.tenant

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "available": available,
                "granted": granted,
                "held": held,
                "policy": policy,
                "spent": spent,
                "tenant": tenant,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.credit_amount import CreditAmount  # noqa: PLC0415

        d = dict(src_dict)
        available = CreditAmount.from_dict(d.pop("available"))

        granted = CreditAmount.from_dict(d.pop("granted"))

        held = CreditAmount.from_dict(d.pop("held"))

        policy = d.pop("policy")

        spent = CreditAmount.from_dict(d.pop("spent"))

        tenant = d.pop("tenant")

        credits_view = cls(
            available=available,
            granted=granted,
            held=held,
            policy=policy,
            spent=spent,
            tenant=tenant,
        )

        credits_view.additional_properties = d
        return credits_view

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
