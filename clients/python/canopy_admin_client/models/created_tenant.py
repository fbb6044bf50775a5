from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.user_view import UserView


T = TypeVar("T", bound="CreatedTenant")


@_attrs_define
class CreatedTenant:
    """The answer to creating a tenant: the tenant, its owner, and the owner's token when Canopy
    generated it (shown only now).

        Attributes:
            created_at (str):
            display_name (str):
            id (str):
            status (str): `active`, or `suspended` (its users' and clients' tokens are refused).
            updated_at (str):
            owner (UserView): A user as the API shows it. Tokens are never shown again after creation.
            owner_access_token (None | str | Unset): The owner's generated token; absent when the request supplied its own.
    """

    created_at: str
    display_name: str
    id: str
    status: str
    updated_at: str
    owner: UserView
    owner_access_token: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at

        display_name = self.display_name

        id = self.id

        status = self.status

        updated_at = self.updated_at

        owner = self.owner.to_dict()

        owner_access_token: None | str | Unset
        if isinstance(self.owner_access_token, Unset):
            owner_access_token = UNSET
        else:
            owner_access_token = self.owner_access_token

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "display_name": display_name,
                "id": id,
                "status": status,
                "updated_at": updated_at,
                "owner": owner,
            }
        )
        if owner_access_token is not UNSET:
            field_dict["owner_access_token"] = owner_access_token

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.user_view import UserView  # noqa: PLC0415

        d = dict(src_dict)
        created_at = d.pop("created_at")

        display_name = d.pop("display_name")

        id = d.pop("id")

        status = d.pop("status")

        updated_at = d.pop("updated_at")

        owner = UserView.from_dict(d.pop("owner"))

        def _parse_owner_access_token(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        owner_access_token = _parse_owner_access_token(d.pop("owner_access_token", UNSET))

        created_tenant = cls(
            created_at=created_at,
            display_name=display_name,
            id=id,
            status=status,
            updated_at=updated_at,
            owner=owner,
            owner_access_token=owner_access_token,
        )

        created_tenant.additional_properties = d
        return created_tenant

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
