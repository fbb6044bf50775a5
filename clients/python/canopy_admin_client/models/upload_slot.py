from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="UploadSlot")


@_attrs_define
class UploadSlot:
    """Where and how to upload the bytes, then complete.

    Attributes:
        complete_url (str):
        expires_at (str):
        filename (str):
        input_id (str):
        max_size_bytes (int): The most bytes the upload may have (the tenant's upload quota).
        method (str): `PUT`.
        token (str): Send it back to `complete_url`.
        upload_url (str): A signed URL (a bearer secret, short-lived, for this one object).
    """

    complete_url: str
    expires_at: str
    filename: str
    input_id: str
    max_size_bytes: int
    method: str
    token: str
    upload_url: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        complete_url = self.complete_url

        expires_at = self.expires_at

        filename = self.filename

        input_id = self.input_id

        max_size_bytes = self.max_size_bytes

        method = self.method

        token = self.token

        upload_url = self.upload_url

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "complete_url": complete_url,
                "expires_at": expires_at,
                "filename": filename,
                "input_id": input_id,
                "max_size_bytes": max_size_bytes,
                "method": method,
                "token": token,
                "upload_url": upload_url,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        complete_url = d.pop("complete_url")

        expires_at = d.pop("expires_at")

        filename = d.pop("filename")

        input_id = d.pop("input_id")

        max_size_bytes = d.pop("max_size_bytes")

        method = d.pop("method")

        token = d.pop("token")

        upload_url = d.pop("upload_url")

        upload_slot = cls(
            complete_url=complete_url,
            expires_at=expires_at,
            filename=filename,
            input_id=input_id,
            max_size_bytes=max_size_bytes,
            method=method,
            token=token,
            upload_url=upload_url,
        )

        upload_slot.additional_properties = d
        return upload_slot

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
