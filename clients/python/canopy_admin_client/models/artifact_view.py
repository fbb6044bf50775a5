from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ArtifactView")


@_attrs_define
class ArtifactView:
    """
    Attributes:
        artifact_id (str):
        content_type (str):
        created_at (str):
        filename (str): The path under `/workspace/artifacts/`.
        job_id (str):
        path (str):
        ready (bool):
        sha256 (str):
        size_bytes (int):
        status (str): `ready`.
    """

    artifact_id: str
    content_type: str
    created_at: str
    filename: str
    job_id: str
    path: str
    ready: bool
    sha256: str
    size_bytes: int
    status: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        artifact_id = self.artifact_id

        content_type = self.content_type

        created_at = self.created_at

        filename = self.filename

        job_id = self.job_id

        path = self.path

        ready = self.ready

        sha256 = self.sha256

        size_bytes = self.size_bytes

        status = self.status

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "artifact_id": artifact_id,
                "content_type": content_type,
                "created_at": created_at,
                "filename": filename,
                "job_id": job_id,
                "path": path,
                "ready": ready,
                "sha256": sha256,
                "size_bytes": size_bytes,
                "status": status,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        artifact_id = d.pop("artifact_id")

        content_type = d.pop("content_type")

        created_at = d.pop("created_at")

        filename = d.pop("filename")

        job_id = d.pop("job_id")

        path = d.pop("path")

        ready = d.pop("ready")

        sha256 = d.pop("sha256")

        size_bytes = d.pop("size_bytes")

        status = d.pop("status")

        artifact_view = cls(
            artifact_id=artifact_id,
            content_type=content_type,
            created_at=created_at,
            filename=filename,
            job_id=job_id,
            path=path,
            ready=ready,
            sha256=sha256,
            size_bytes=size_bytes,
            status=status,
        )

        artifact_view.additional_properties = d
        return artifact_view

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
