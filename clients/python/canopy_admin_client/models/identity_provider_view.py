from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="IdentityProviderView")


@_attrs_define
class IdentityProviderView:
    """The tenant's identity provider as the API shows it (never its secret).

    Attributes:
        client_id (str):
        issuer (str):
        redirect_uri (str): The redirect URI to register at the provider.
        updated_at (str):
        updated_by (str):
        username_claim (str):
    """

    client_id: str
    issuer: str
    redirect_uri: str
    updated_at: str
    updated_by: str
    username_claim: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        client_id = self.client_id

        issuer = self.issuer

        redirect_uri = self.redirect_uri

        updated_at = self.updated_at

        updated_by = self.updated_by

        username_claim = self.username_claim

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "client_id": client_id,
                "issuer": issuer,
                "redirect_uri": redirect_uri,
                "updated_at": updated_at,
                "updated_by": updated_by,
                "username_claim": username_claim,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        client_id = d.pop("client_id")

        issuer = d.pop("issuer")

        redirect_uri = d.pop("redirect_uri")

        updated_at = d.pop("updated_at")

        updated_by = d.pop("updated_by")

        username_claim = d.pop("username_claim")

        identity_provider_view = cls(
            client_id=client_id,
            issuer=issuer,
            redirect_uri=redirect_uri,
            updated_at=updated_at,
            updated_by=updated_by,
            username_claim=username_claim,
        )

        identity_provider_view.additional_properties = d
        return identity_provider_view

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
