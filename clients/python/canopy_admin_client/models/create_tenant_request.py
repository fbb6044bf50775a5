from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="CreateTenantRequest")


@_attrs_define
class CreateTenantRequest:
    """`POST /api/v0/tenants` (the operator only): a tenant and its first owner. Without
    `owner_access_token`, the owner's token is generated and answered once.

        Attributes:
            id (str): The tenant's id: lowercase letters, digits and '-', at most 63 characters (`platform` is
                reserved).
            owner (str): The name of the tenant's first user, an owner.
            display_name (None | str | Unset): A name for people; defaults to the id.
            owner_access_token (None | str | Unset): A custom access token for the owner; omitted, one is generated and
                returned once.
    """

    id: str
    owner: str
    display_name: None | str | Unset = UNSET
    owner_access_token: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        owner = self.owner

        display_name: None | str | Unset
        if isinstance(self.display_name, Unset):
            display_name = UNSET
        else:
            display_name = self.display_name

        owner_access_token: None | str | Unset
        if isinstance(self.owner_access_token, Unset):
            owner_access_token = UNSET
        else:
            owner_access_token = self.owner_access_token

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "id": id,
                "owner": owner,
            }
        )
        if display_name is not UNSET:
            field_dict["display_name"] = display_name
        if owner_access_token is not UNSET:
            field_dict["owner_access_token"] = owner_access_token

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        owner = d.pop("owner")

        def _parse_display_name(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        display_name = _parse_display_name(d.pop("display_name", UNSET))

        def _parse_owner_access_token(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        owner_access_token = _parse_owner_access_token(d.pop("owner_access_token", UNSET))

        create_tenant_request = cls(
            id=id,
            owner=owner,
            display_name=display_name,
            owner_access_token=owner_access_token,
        )

        return create_tenant_request
