from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.submit_job_request_env import SubmitJobRequestEnv
    from ..models.submit_job_request_metadata_type_0 import SubmitJobRequestMetadataType0


T = TypeVar("T", bound="SubmitJobRequest")


@_attrs_define
class SubmitJobRequest:
    """`submit_job`'s arguments (documentation of the body; aliases `workload`, string `command`
    and plain id strings in `input_files`/`script_files` are accepted too).

        Attributes:
            image (str): e.g. `python:3.11-slim`; the images this deployment runs are named when one is refused.
            name (str):
            workload_type (str): `inference`, `training`, `fine_tuning` (or `fine-tuning`), `batch`.
            args (list[str] | Unset):
            command (Any | Unset): An array of strings, or one string split into words as a shell would (nothing expanded).
            env (SubmitJobRequestEnv | Unset):
            expected_artifacts (list[str] | Unset): Files under `/workspace/artifacts/` the job should leave.
            idempotency_key (None | str | Unset): Canopy's addition: a retried submit with the same key (per tenant) answers
                the job the
                first one created; with another body, 409. REST's `Idempotency-Key` header sets it too.
            input_files (list[Any] | Unset): `[{"input_id": "inp_..."}]` or `["inp_..."]`; mounted read-only under
                `/workspace/inputs/`.
            metadata (None | SubmitJobRequestMetadataType0 | Unset):
            routing_mode (None | str | Unset): `cost`, `speed` or `balanced` (the default).
            script_file (Any | Unset):
            script_files (list[Any] | Unset): Mounted read-only under `/workspace/scripts/`.
            template (None | str | Unset):
    """

    image: str
    name: str
    workload_type: str
    args: list[str] | Unset = UNSET
    command: Any | Unset = UNSET
    env: SubmitJobRequestEnv | Unset = UNSET
    expected_artifacts: list[str] | Unset = UNSET
    idempotency_key: None | str | Unset = UNSET
    input_files: list[Any] | Unset = UNSET
    metadata: None | SubmitJobRequestMetadataType0 | Unset = UNSET
    routing_mode: None | str | Unset = UNSET
    script_file: Any | Unset = UNSET
    script_files: list[Any] | Unset = UNSET
    template: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.submit_job_request_metadata_type_0 import SubmitJobRequestMetadataType0  # noqa: PLC0415

        image = self.image

        name = self.name

        workload_type = self.workload_type

        args: list[str] | Unset = UNSET
        if not isinstance(self.args, Unset):
            args = self.args

        command = self.command

        env: dict[str, Any] | Unset = UNSET
        if not isinstance(self.env, Unset):
            env = self.env.to_dict()

        expected_artifacts: list[str] | Unset = UNSET
        if not isinstance(self.expected_artifacts, Unset):
            expected_artifacts = self.expected_artifacts

        idempotency_key: None | str | Unset
        if isinstance(self.idempotency_key, Unset):
            idempotency_key = UNSET
        else:
            idempotency_key = self.idempotency_key

        input_files: list[Any] | Unset = UNSET
        if not isinstance(self.input_files, Unset):
            input_files = self.input_files

        metadata: dict[str, Any] | None | Unset
        if isinstance(self.metadata, Unset):
            metadata = UNSET
        elif isinstance(self.metadata, SubmitJobRequestMetadataType0):
            metadata = self.metadata.to_dict()
        else:
            metadata = self.metadata

        routing_mode: None | str | Unset
        if isinstance(self.routing_mode, Unset):
            routing_mode = UNSET
        else:
            routing_mode = self.routing_mode

        script_file = self.script_file

        script_files: list[Any] | Unset = UNSET
        if not isinstance(self.script_files, Unset):
            script_files = self.script_files

        template: None | str | Unset
        if isinstance(self.template, Unset):
            template = UNSET
        else:
            template = self.template

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "image": image,
                "name": name,
                "workload_type": workload_type,
            }
        )
        if args is not UNSET:
            field_dict["args"] = args
        if command is not UNSET:
            field_dict["command"] = command
        if env is not UNSET:
            field_dict["env"] = env
        if expected_artifacts is not UNSET:
            field_dict["expected_artifacts"] = expected_artifacts
        if idempotency_key is not UNSET:
            field_dict["idempotency_key"] = idempotency_key
        if input_files is not UNSET:
            field_dict["input_files"] = input_files
        if metadata is not UNSET:
            field_dict["metadata"] = metadata
        if routing_mode is not UNSET:
            field_dict["routing_mode"] = routing_mode
        if script_file is not UNSET:
            field_dict["script_file"] = script_file
        if script_files is not UNSET:
            field_dict["script_files"] = script_files
        if template is not UNSET:
            field_dict["template"] = template

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.submit_job_request_env import SubmitJobRequestEnv  # noqa: PLC0415
        from ..models.submit_job_request_metadata_type_0 import SubmitJobRequestMetadataType0  # noqa: PLC0415

        d = dict(src_dict)
        image = d.pop("image")

        name = d.pop("name")

        workload_type = d.pop("workload_type")

        args = cast(list[str], d.pop("args", UNSET))

        command = d.pop("command", UNSET)

        _env = d.pop("env", UNSET)
        env: SubmitJobRequestEnv | Unset
        if isinstance(_env, Unset):
            env = UNSET
        else:
            env = SubmitJobRequestEnv.from_dict(_env)

        expected_artifacts = cast(list[str], d.pop("expected_artifacts", UNSET))

        def _parse_idempotency_key(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        idempotency_key = _parse_idempotency_key(d.pop("idempotency_key", UNSET))

        input_files = cast(list[Any], d.pop("input_files", UNSET))

        def _parse_metadata(data: object) -> None | SubmitJobRequestMetadataType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                metadata_type_0 = SubmitJobRequestMetadataType0.from_dict(data)

                return metadata_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | SubmitJobRequestMetadataType0 | Unset, data)

        metadata = _parse_metadata(d.pop("metadata", UNSET))

        def _parse_routing_mode(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        routing_mode = _parse_routing_mode(d.pop("routing_mode", UNSET))

        script_file = d.pop("script_file", UNSET)

        script_files = cast(list[Any], d.pop("script_files", UNSET))

        def _parse_template(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        template = _parse_template(d.pop("template", UNSET))

        submit_job_request = cls(
            image=image,
            name=name,
            workload_type=workload_type,
            args=args,
            command=command,
            env=env,
            expected_artifacts=expected_artifacts,
            idempotency_key=idempotency_key,
            input_files=input_files,
            metadata=metadata,
            routing_mode=routing_mode,
            script_file=script_file,
            script_files=script_files,
            template=template,
        )

        submit_job_request.additional_properties = d
        return submit_job_request

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
