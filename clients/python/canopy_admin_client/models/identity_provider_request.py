from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="IdentityProviderRequest")


@_attrs_define
class IdentityProviderRequest:
    """`PUT /api/v0/identity-provider`: the tenant's own OpenID Connect provider, for single sign-on
    at Canopy's authorization server. Register Canopy at the provider as a confidential client
    with the redirect URI `{public_url}/oauth/oidc/callback`.

        Attributes:
            client_id (str):
            client_secret (str): Sealed at rest, never shown again.
            issuer (str): The provider's issuer identifier, exactly (its discovery document is at
                `{issuer}/.well-known/openid-configuration`). https, or http on a loopback host.
            username_claim (None | str | Unset): The ID token claim whose value is the Canopy user name; default
                `preferred_username`.
    """

    client_id: str
    client_secret: str
    issuer: str
    username_claim: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        client_id = self.client_id

        client_secret = self.client_secret

        issuer = self.issuer

        username_claim: None | str | Unset
        if isinstance(self.username_claim, Unset):
            username_claim = UNSET
        else:
            username_claim = self.username_claim

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "issuer": issuer,
            }
        )
        if username_claim is not UNSET:
            field_dict["username_claim"] = username_claim

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        client_id = d.pop("client_id")

        client_secret = d.pop("client_secret")

        issuer = d.pop("issuer")

        def _parse_username_claim(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        username_claim = _parse_username_claim(d.pop("username_claim", UNSET))

        identity_provider_request = cls(
            client_id=client_id,
            client_secret=client_secret,
            issuer=issuer,
            username_claim=username_claim,
        )

        return identity_provider_request
