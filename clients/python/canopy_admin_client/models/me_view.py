from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="MeView")


@_attrs_define
class MeView:
    """`GET /api/v0/me`: who the request's token is, and what that lets it do. The console reads it
    to show the signed-in principal and to hide what it may not do.

        Attributes:
            kind (str): `user`, `client` (an MCP client identity), `operator` (the platform's) or `development`
                (development mode's single principal).
            manages_platform (bool): Whether it manages the platform (tenants): the operator.
            manages_tenant (bool): Whether it manages its tenant (servers, groups, toggles, users, MCP clients, the audit
                log): an owner's or admin's token that is not scope-limited or has `canopy:admin`, and
                development mode.
            name (str): The user's, client's or operator's name (`dev` in development mode).
            subject (str): As audit records name it: `user:alice`, `client:cursor`, `operator:operator`, `user:dev`.
            role (None | str | Unset): A user's role: `owner`, `admin` or `member`; absent for anyone else.
            scopes (list[str] | None | Unset): The scopes of its OAuth access token, sorted; absent when the token is not
                scope-limited
                (a static token, development mode).
            tenant (None | str | Unset): The tenant it acts in; absent for the operator, who belongs to none.
    """

    kind: str
    manages_platform: bool
    manages_tenant: bool
    name: str
    subject: str
    role: None | str | Unset = UNSET
    scopes: list[str] | None | Unset = UNSET
    tenant: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        kind = self.kind

        manages_platform = self.manages_platform

        manages_tenant = self.manages_tenant

        name = self.name

        subject = self.subject

        role: None | str | Unset
        if isinstance(self.role, Unset):
            role = UNSET
        else:
            role = self.role

        scopes: list[str] | None | Unset
        if isinstance(self.scopes, Unset):
            scopes = UNSET
        elif isinstance(self.scopes, list):
            scopes = self.scopes

        else:
            scopes = self.scopes

        tenant: None | str | Unset
        if isinstance(self.tenant, Unset):
            tenant = UNSET
        else:
            tenant = self.tenant

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "kind": kind,
                "manages_platform": manages_platform,
                "manages_tenant": manages_tenant,
                "name": name,
                "subject": subject,
            }
        )
        if role is not UNSET:
            field_dict["role"] = role
        if scopes is not UNSET:
            field_dict["scopes"] = scopes
        if tenant is not UNSET:
            field_dict["tenant"] = tenant

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        kind = d.pop("kind")

        manages_platform = d.pop("manages_platform")

        manages_tenant = d.pop("manages_tenant")

        name = d.pop("name")

        subject = d.pop("subject")

        def _parse_role(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        role = _parse_role(d.pop("role", UNSET))

        def _parse_scopes(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                scopes_type_0 = cast(list[str], data)

                return scopes_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        scopes = _parse_scopes(d.pop("scopes", UNSET))

        def _parse_tenant(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        tenant = _parse_tenant(d.pop("tenant", UNSET))

        me_view = cls(
            kind=kind,
            manages_platform=manages_platform,
            manages_tenant=manages_tenant,
            name=name,
            subject=subject,
            role=role,
            scopes=scopes,
            tenant=tenant,
        )

        me_view.additional_properties = d
        return me_view

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
