from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.operator_view import OperatorView


T = TypeVar("T", bound="InitializedServer")


@_attrs_define
class InitializedServer:
    """The answer to `init-server`: the owner `admin` of the `default` tenant with its token (the
    fields of [`CreatedUser`], as before), and the first platform operator with its token. Both
    tokens are generated and shown only now.

        Attributes:
            created_at (str):
            name (str):
            role (str): `owner`, `admin` or `member`.
            updated_at (str):
            operator (OperatorView): A platform operator as the API shows it (never its token).
            operator_token (str): The operator's generated token (the CLI saves it as `operator_token` in ~/.canopy.conf).
            access_token (None | str | Unset): The owner's generated token.
    """

    created_at: str
    name: str
    role: str
    updated_at: str
    operator: OperatorView
    operator_token: str
    access_token: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at

        name = self.name

        role = self.role

        updated_at = self.updated_at

        operator = self.operator.to_dict()

        operator_token = self.operator_token

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
                "operator": operator,
                "operator_token": operator_token,
            }
        )
        if access_token is not UNSET:
            field_dict["access_token"] = access_token

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.operator_view import OperatorView  # noqa: PLC0415

        d = dict(src_dict)
        created_at = d.pop("created_at")

        name = d.pop("name")

        role = d.pop("role")

        updated_at = d.pop("updated_at")

        operator = OperatorView.from_dict(d.pop("operator"))

        operator_token = d.pop("operator_token")

        def _parse_access_token(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        access_token = _parse_access_token(d.pop("access_token", UNSET))

        initialized_server = cls(
            created_at=created_at,
            name=name,
            role=role,
            updated_at=updated_at,
            operator=operator,
            operator_token=operator_token,
            access_token=access_token,
        )

        initialized_server.additional_properties = d
        return initialized_server

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
