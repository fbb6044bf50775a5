from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="ReadResourceRequest")


@_attrs_define
class ReadResourceRequest:
    """`POST /api/v0/resources/read`

    Attributes:
        uri (str): `canopy://server/<uri>`
    """

    uri: str

    def to_dict(self) -> dict[str, Any]:
        uri = self.uri

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "uri": uri,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        uri = d.pop("uri")

        read_resource_request = cls(
            uri=uri,
        )

        return read_resource_request
