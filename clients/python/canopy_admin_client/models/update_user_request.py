from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="UpdateUserRequest")


@_attrs_define
class UpdateUserRequest:
    """`PATCH /api/v0/users/{name}`: the user's new role. The token is not changed.

    Attributes:
        role (str): `owner`, `admin` or `member`. Only an owner makes an owner or changes an owner's role, and
            a tenant's last owner stays one.
    """

    role: str

    def to_dict(self) -> dict[str, Any]:
        role = self.role

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "role": role,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        role = d.pop("role")

        update_user_request = cls(
            role=role,
        )

        return update_user_request
