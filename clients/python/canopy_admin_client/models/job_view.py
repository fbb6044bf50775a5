from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.artifact_contract_view import ArtifactContractView
    from ..models.cost_range import CostRange
    from ..models.credit_amount import CreditAmount
    from ..models.job_failure_view import JobFailureView
    from ..models.job_view_metadata import JobViewMetadata
    from ..models.mounted_input_view import MountedInputView
    from ..models.provider_view import ProviderView
    from ..models.scheduling_view import SchedulingView


T = TypeVar("T", bound="JobView")


@_attrs_define
class JobView:
    """A job as `get_job`, `submit_job` and `list_jobs` show it.

    Attributes:
        args (list[str]):
        artifact_contract (ArtifactContractView): What the job promised to leave and what it left.
        artifacts_ready (bool):
        cancel_requested (bool):
        command (list[str]):
        delayed_start (bool): The job waited longer than the router expected for its route.
        env_names (list[str]): The names of the job's environment variables (values are not shown).
        estimated_cost (CostRange):
        execution_phase (str): `before_execution`, `executing` or `after_execution`.
        image (str):
        input_files (list[MountedInputView]):
        job_id (str):
        metadata (JobViewMetadata):
        name (str):
        phase (str): `queued`, `scheduling`, `provisioning`, `preparing`, `running`, `finished`.
        phase_last_updated_at (str):
        phase_started_at (str):
        routing_mode (str):
        scheduling (SchedulingView): How the job was placed.
        status (str): `pending`, `queued`, `assigned`, `starting`, `running`; `completed`, `failed`,
            `rejected`, `cancelled`.
        status_message (str):
        submitted_at (str):
        wait_duration_seconds (int): From submission to the start of execution (or to now, while it waits).
        workload_type (str):
        actual_cost (CreditAmount | None | Unset):
        delay_reason (None | str | Unset):
        failure (JobFailureView | None | Unset):
        finished_at (None | str | Unset):
        provider (None | ProviderView | Unset):
        queued_at (None | str | Unset):
        script_file (MountedInputView | None | Unset):
        started_at (None | str | Unset):
        startup_diagnostics (None | str | Unset): The latest starting phase's message while the job starts.
        status_reason (None | str | Unset):
        template (None | str | Unset):
    """

    args: list[str]
    artifact_contract: ArtifactContractView
    artifacts_ready: bool
    cancel_requested: bool
    command: list[str]
    delayed_start: bool
    env_names: list[str]
    estimated_cost: CostRange
    execution_phase: str
    image: str
    input_files: list[MountedInputView]
    job_id: str
    metadata: JobViewMetadata
    name: str
    phase: str
    phase_last_updated_at: str
    phase_started_at: str
    routing_mode: str
    scheduling: SchedulingView
    status: str
    status_message: str
    submitted_at: str
    wait_duration_seconds: int
    workload_type: str
    actual_cost: CreditAmount | None | Unset = UNSET
    delay_reason: None | str | Unset = UNSET
    failure: JobFailureView | None | Unset = UNSET
    finished_at: None | str | Unset = UNSET
    provider: None | ProviderView | Unset = UNSET
    queued_at: None | str | Unset = UNSET
    script_file: MountedInputView | None | Unset = UNSET
    started_at: None | str | Unset = UNSET
    startup_diagnostics: None | str | Unset = UNSET
    status_reason: None | str | Unset = UNSET
    template: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.credit_amount import CreditAmount  # noqa: PLC0415
        from ..models.job_failure_view import JobFailureView  # noqa: PLC0415
        from ..models.mounted_input_view import MountedInputView  # noqa: PLC0415
        from ..models.provider_view import ProviderView  # noqa: PLC0415

        args = self.args

        artifact_contract = self.artifact_contract.to_dict()

        artifacts_ready = self.artifacts_ready

        cancel_requested = self.cancel_requested

        command = self.command

        delayed_start = self.delayed_start

        env_names = self.env_names

        estimated_cost = self.estimated_cost.to_dict()

        execution_phase = self.execution_phase

        image = self.image

        input_files = []
        for input_files_item_data in self.input_files:
            input_files_item = input_files_item_data.to_dict()
            input_files.append(input_files_item)

        job_id = self.job_id

        metadata = self.metadata.to_dict()

        name = self.name

        phase = self.phase

        phase_last_updated_at = self.phase_last_updated_at

        phase_started_at = self.phase_started_at

        routing_mode = self.routing_mode

        scheduling = self.scheduling.to_dict()

        status = self.status

        status_message = self.status_message

        submitted_at = self.submitted_at

        wait_duration_seconds = self.wait_duration_seconds

        workload_type = self.workload_type

        actual_cost: dict[str, Any] | None | Unset
        if isinstance(self.actual_cost, Unset):
            actual_cost = UNSET
        elif isinstance(self.actual_cost, CreditAmount):
            actual_cost = self.actual_cost.to_dict()
        else:
            actual_cost = self.actual_cost

        delay_reason: None | str | Unset
        if isinstance(self.delay_reason, Unset):
            delay_reason = UNSET
        else:
            delay_reason = self.delay_reason

        failure: dict[str, Any] | None | Unset
        if isinstance(self.failure, Unset):
            failure = UNSET
        elif isinstance(self.failure, JobFailureView):
            failure = self.failure.to_dict()
        else:
            failure = self.failure

        finished_at: None | str | Unset
        if isinstance(self.finished_at, Unset):
            finished_at = UNSET
        else:
            finished_at = self.finished_at

        provider: dict[str, Any] | None | Unset
        if isinstance(self.provider, Unset):
            provider = UNSET
        elif isinstance(self.provider, ProviderView):
            provider = self.provider.to_dict()
        else:
            provider = self.provider

        queued_at: None | str | Unset
        if isinstance(self.queued_at, Unset):
            queued_at = UNSET
        else:
            queued_at = self.queued_at

        script_file: dict[str, Any] | None | Unset
        if isinstance(self.script_file, Unset):
            script_file = UNSET
        elif isinstance(self.script_file, MountedInputView):
            script_file = self.script_file.to_dict()
        else:
            script_file = self.script_file

        started_at: None | str | Unset
        if isinstance(self.started_at, Unset):
            started_at = UNSET
        else:
            started_at = self.started_at

        startup_diagnostics: None | str | Unset
        if isinstance(self.startup_diagnostics, Unset):
            startup_diagnostics = UNSET
        else:
            startup_diagnostics = self.startup_diagnostics

        status_reason: None | str | Unset
        if isinstance(self.status_reason, Unset):
            status_reason = UNSET
        else:
            status_reason = self.status_reason

        template: None | str | Unset
        if isinstance(self.template, Unset):
            template = UNSET
        else:
            template = self.template

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "args": args,
                "artifact_contract": artifact_contract,
                "artifacts_ready": artifacts_ready,
                "cancel_requested": cancel_requested,
                "command": command,
                "delayed_start": delayed_start,
                "env_names": env_names,
                "estimated_cost": estimated_cost,
                "execution_phase": execution_phase,
                "image": image,
                "input_files": input_files,
                "job_id": job_id,
                "metadata": metadata,
                "name": name,
                "phase": phase,
                "phase_last_updated_at": phase_last_updated_at,
                "phase_started_at": phase_started_at,
                "routing_mode": routing_mode,
                "scheduling": scheduling,
                "status": status,
                "status_message": status_message,
                "submitted_at": submitted_at,
                "wait_duration_seconds": wait_duration_seconds,
                "workload_type": workload_type,
            }
        )
        if actual_cost is not UNSET:
            field_dict["actual_cost"] = actual_cost
        if delay_reason is not UNSET:
            field_dict["delay_reason"] = delay_reason
        if failure is not UNSET:
            field_dict["failure"] = failure
        if finished_at is not UNSET:
            field_dict["finished_at"] = finished_at
        if provider is not UNSET:
            field_dict["provider"] = provider
        if queued_at is not UNSET:
            field_dict["queued_at"] = queued_at
        if script_file is not UNSET:
            field_dict["script_file"] = script_file
        if started_at is not UNSET:
            field_dict["started_at"] = started_at
        if startup_diagnostics is not UNSET:
            field_dict["startup_diagnostics"] = startup_diagnostics
        if status_reason is not UNSET:
            field_dict["status_reason"] = status_reason
        if template is not UNSET:
            field_dict["template"] = template

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.artifact_contract_view import ArtifactContractView  # noqa: PLC0415
        from ..models.cost_range import CostRange  # noqa: PLC0415
        from ..models.credit_amount import CreditAmount  # noqa: PLC0415
        from ..models.job_failure_view import JobFailureView  # noqa: PLC0415
        from ..models.job_view_metadata import JobViewMetadata  # noqa: PLC0415
        from ..models.mounted_input_view import MountedInputView  # noqa: PLC0415
        from ..models.provider_view import ProviderView  # noqa: PLC0415
        from ..models.scheduling_view import SchedulingView  # noqa: PLC0415

        d = dict(src_dict)
        args = cast(list[str], d.pop("args"))

        artifact_contract = ArtifactContractView.from_dict(d.pop("artifact_contract"))

        artifacts_ready = d.pop("artifacts_ready")

        cancel_requested = d.pop("cancel_requested")

        command = cast(list[str], d.pop("command"))

        delayed_start = d.pop("delayed_start")

        env_names = cast(list[str], d.pop("env_names"))

        estimated_cost = CostRange.from_dict(d.pop("estimated_cost"))

        execution_phase = d.pop("execution_phase")

        image = d.pop("image")

        input_files = []
        _input_files = d.pop("input_files")
        for input_files_item_data in _input_files:
            input_files_item = MountedInputView.from_dict(input_files_item_data)

            input_files.append(input_files_item)

        job_id = d.pop("job_id")

        metadata = JobViewMetadata.from_dict(d.pop("metadata"))

        name = d.pop("name")

        phase = d.pop("phase")

        phase_last_updated_at = d.pop("phase_last_updated_at")

        phase_started_at = d.pop("phase_started_at")

        routing_mode = d.pop("routing_mode")

        scheduling = SchedulingView.from_dict(d.pop("scheduling"))

        status = d.pop("status")

        status_message = d.pop("status_message")

        submitted_at = d.pop("submitted_at")

        wait_duration_seconds = d.pop("wait_duration_seconds")

        workload_type = d.pop("workload_type")

        def _parse_actual_cost(data: object) -> CreditAmount | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                actual_cost_type_0 = CreditAmount.from_dict(data)

                return actual_cost_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(CreditAmount | None | Unset, data)

        actual_cost = _parse_actual_cost(d.pop("actual_cost", UNSET))

        def _parse_delay_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        delay_reason = _parse_delay_reason(d.pop("delay_reason", UNSET))

        def _parse_failure(data: object) -> JobFailureView | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                failure_type_0 = JobFailureView.from_dict(data)

                return failure_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(JobFailureView | None | Unset, data)

        failure = _parse_failure(d.pop("failure", UNSET))

        def _parse_finished_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        finished_at = _parse_finished_at(d.pop("finished_at", UNSET))

        def _parse_provider(data: object) -> None | ProviderView | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                provider_type_0 = ProviderView.from_dict(data)

                return provider_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | ProviderView | Unset, data)

        provider = _parse_provider(d.pop("provider", UNSET))

        def _parse_queued_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        queued_at = _parse_queued_at(d.pop("queued_at", UNSET))

        def _parse_script_file(data: object) -> MountedInputView | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                script_file_type_0 = MountedInputView.from_dict(data)

                return script_file_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(MountedInputView | None | Unset, data)

        script_file = _parse_script_file(d.pop("script_file", UNSET))

        def _parse_started_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        started_at = _parse_started_at(d.pop("started_at", UNSET))

        def _parse_startup_diagnostics(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        startup_diagnostics = _parse_startup_diagnostics(d.pop("startup_diagnostics", UNSET))

        def _parse_status_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        status_reason = _parse_status_reason(d.pop("status_reason", UNSET))

        def _parse_template(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        template = _parse_template(d.pop("template", UNSET))

        job_view = cls(
            args=args,
            artifact_contract=artifact_contract,
            artifacts_ready=artifacts_ready,
            cancel_requested=cancel_requested,
            command=command,
            delayed_start=delayed_start,
            env_names=env_names,
            estimated_cost=estimated_cost,
            execution_phase=execution_phase,
            image=image,
            input_files=input_files,
            job_id=job_id,
            metadata=metadata,
            name=name,
            phase=phase,
            phase_last_updated_at=phase_last_updated_at,
            phase_started_at=phase_started_at,
            routing_mode=routing_mode,
            scheduling=scheduling,
            status=status,
            status_message=status_message,
            submitted_at=submitted_at,
            wait_duration_seconds=wait_duration_seconds,
            workload_type=workload_type,
            actual_cost=actual_cost,
            delay_reason=delay_reason,
            failure=failure,
            finished_at=finished_at,
            provider=provider,
            queued_at=queued_at,
            script_file=script_file,
            started_at=started_at,
            startup_diagnostics=startup_diagnostics,
            status_reason=status_reason,
            template=template,
        )

        job_view.additional_properties = d
        return job_view

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
