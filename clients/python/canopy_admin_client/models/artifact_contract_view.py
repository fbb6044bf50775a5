from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ArtifactContractView")


@_attrs_define
class ArtifactContractView:
    """What the job promised to leave and what it left.

    Attributes:
        artifacts_dir (str):
        expected_artifacts (list[str]):
        missing (list[str]): Expected artifacts the ended job did not leave.
    """

    artifacts_dir: str
    expected_artifacts: list[str]
    missing: list[str]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        artifacts_dir = self.artifacts_dir

        expected_artifacts = self.expected_artifacts

        missing = self.missing

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "artifacts_dir": artifacts_dir,
                "expected_artifacts": expected_artifacts,
                "missing": missing,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        artifacts_dir = d.pop("artifacts_dir")

        expected_artifacts = cast(list[str], d.pop("expected_artifacts"))

        missing = cast(list[str], d.pop("missing"))

        artifact_contract_view = cls(
            artifacts_dir=artifacts_dir,
            expected_artifacts=expected_artifacts,
            missing=missing,
        )

        artifact_contract_view.additional_properties = d
        return artifact_contract_view

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
