from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="CreatedUser")


@_attrs_define
class CreatedUser:
    """The answer to creating a user (and to `init-server`): the user, and the access token when
    Canopy generated it. This is the only time the token is shown.

        Attributes:
            created_at (str):
            name (str):
            role (str): `owner`, `admin` or `member`.
            updated_at (str):
            access_token (None | str | Unset): The generated token; absent when the request supplied its own.
    """

    created_at: str
    name: str
    role: str
    updated_at: str
    access_token: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at

        name = self.name

        role = self.role

        updated_at = self.updated_at

        access_token: None | str | Unset
        if isinstance(self.access_token, Unset):
            access_token = UNSET
        else:
            access_token = self.access_token

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "name": name,
                "role": role,
                "updated_at": updated_at,
            }
        )
        if access_token is not UNSET:
            field_dict["access_token"] = access_token

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        created_at = d.pop("created_at")

        name = d.pop("name")

        role = d.pop("role")

        updated_at = d.pop("updated_at")

        def _parse_access_token(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        access_token = _parse_access_token(d.pop("access_token", UNSET))

        created_user = cls(
            created_at=created_at,
            name=name,
            role=role,
            updated_at=updated_at,
            access_token=access_token,
        )

        created_user.additional_properties = d
        return created_user

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
