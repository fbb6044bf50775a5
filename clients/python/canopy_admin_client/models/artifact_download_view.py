from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.artifact_view import ArtifactView


T = TypeVar("T", bound="ArtifactDownloadView")


@_attrs_define
class ArtifactDownloadView:
    """`get_artifact`: the artifact and a short-lived signed URL (a bearer secret).

    Attributes:
        artifact (ArtifactView):
        download_url (str):
        expires_at (str):
    """

    artifact: ArtifactView
    download_url: str
    expires_at: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        artifact = self.artifact.to_dict()

        download_url = self.download_url

        expires_at = self.expires_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "artifact": artifact,
                "download_url": download_url,
                "expires_at": expires_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.artifact_view import ArtifactView  # noqa: PLC0415

        d = dict(src_dict)
        artifact = ArtifactView.from_dict(d.pop("artifact"))

        download_url = d.pop("download_url")

        expires_at = d.pop("expires_at")

        artifact_download_view = cls(
            artifact=artifact,
            download_url=download_url,
            expires_at=expires_at,
        )

        artifact_download_view.additional_properties = d
        return artifact_download_view

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
