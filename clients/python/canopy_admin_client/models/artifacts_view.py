from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.artifact_view import ArtifactView


T = TypeVar("T", bound="ArtifactsView")


@_attrs_define
class ArtifactsView:
    """
    Attributes:
        artifacts (list[ArtifactView]):
        artifacts_ready (bool):
        job_id (str):
        missing (list[str]): Expected artifacts the job did not leave.
    """

    artifacts: list[ArtifactView]
    artifacts_ready: bool
    job_id: str
    missing: list[str]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        artifacts = []
        for artifacts_item_data in self.artifacts:
            artifacts_item = artifacts_item_data.to_dict()
            artifacts.append(artifacts_item)

        artifacts_ready = self.artifacts_ready

        job_id = self.job_id

        missing = self.missing

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "artifacts": artifacts,
                "artifacts_ready": artifacts_ready,
                "job_id": job_id,
                "missing": missing,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.artifact_view import ArtifactView  # noqa: PLC0415

        d = dict(src_dict)
        artifacts = []
        _artifacts = d.pop("artifacts")
        for artifacts_item_data in _artifacts:
            artifacts_item = ArtifactView.from_dict(artifacts_item_data)

            artifacts.append(artifacts_item)

        artifacts_ready = d.pop("artifacts_ready")

        job_id = d.pop("job_id")

        missing = cast(list[str], d.pop("missing"))

        artifacts_view = cls(
            artifacts=artifacts,
            artifacts_ready=artifacts_ready,
            job_id=job_id,
            missing=missing,
        )

        artifacts_view.additional_properties = d
        return artifacts_view

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
