from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="OAuthGrantView")


@_attrs_define
class OAuthGrantView:
    """An OAuth grant: an application a user signed in to with Canopy (authorization code), alive
    while its refresh tokens are. Never its tokens.

        Attributes:
            client_id (str):
            created_at (str):
            expires_at (str): The grant's absolute end.
            id (str): The grant's id, for `DELETE /api/v0/oauth-grants/{id}`.
            scopes (list[str]):
            subject (str): Whose grant it is: `user:alice`.
            client_name (None | str | Unset): The application's name, as it registered (not verified by Canopy).
            resource (None | str | Unset): The resource (RFC 8707) its access tokens are for.
    """

    client_id: str
    created_at: str
    expires_at: str
    id: str
    scopes: list[str]
    subject: str
    client_name: None | str | Unset = UNSET
    resource: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        client_id = self.client_id

        created_at = self.created_at

        expires_at = self.expires_at

        id = self.id

        scopes = self.scopes

        subject = self.subject

        client_name: None | str | Unset
        if isinstance(self.client_name, Unset):
            client_name = UNSET
        else:
            client_name = self.client_name

        resource: None | str | Unset
        if isinstance(self.resource, Unset):
            resource = UNSET
        else:
            resource = self.resource

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "client_id": client_id,
                "created_at": created_at,
                "expires_at": expires_at,
                "id": id,
                "scopes": scopes,
                "subject": subject,
            }
        )
        if client_name is not UNSET:
            field_dict["client_name"] = client_name
        if resource is not UNSET:
            field_dict["resource"] = resource

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        client_id = d.pop("client_id")

        created_at = d.pop("created_at")

        expires_at = d.pop("expires_at")

        id = d.pop("id")

        scopes = cast(list[str], d.pop("scopes"))

        subject = d.pop("subject")

        def _parse_client_name(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        client_name = _parse_client_name(d.pop("client_name", UNSET))

        def _parse_resource(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        resource = _parse_resource(d.pop("resource", UNSET))

        o_auth_grant_view = cls(
            client_id=client_id,
            created_at=created_at,
            expires_at=expires_at,
            id=id,
            scopes=scopes,
            subject=subject,
            client_name=client_name,
            resource=resource,
        )

        o_auth_grant_view.additional_properties = d
        return o_auth_grant_view

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
