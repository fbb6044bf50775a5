from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="PythonSessionView")


@_attrs_define
class PythonSessionView:
    """A REPL session or process of an environment.

    Attributes:
        id (str): `session_id` (a REPL) or `process_id` (a process).
        kind (str): `repl` or `process`.
        name (str):
        owner (str):
        started_at (str):
        state (str): `running` or `ended`.
        ended_at (None | str | Unset):
        ended_reason (None | str | Unset): Why it ended, e.g. `killed`, `environment_destroyed`, `worker_restarted`.
        script_path (None | str | Unset): A process's script.
    """

    id: str
    kind: str
    name: str
    owner: str
    started_at: str
    state: str
    ended_at: None | str | Unset = UNSET
    ended_reason: None | str | Unset = UNSET
    script_path: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        kind = self.kind

        name = self.name

        owner = self.owner

        started_at = self.started_at

        state = self.state

        ended_at: None | str | Unset
        if isinstance(self.ended_at, Unset):
            ended_at = UNSET
        else:
            ended_at = self.ended_at

        ended_reason: None | str | Unset
        if isinstance(self.ended_reason, Unset):
            ended_reason = UNSET
        else:
            ended_reason = self.ended_reason

        script_path: None | str | Unset
        if isinstance(self.script_path, Unset):
            script_path = UNSET
        else:
            script_path = self.script_path

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "kind": kind,
                "name": name,
                "owner": owner,
                "started_at": started_at,
                "state": state,
            }
        )
        if ended_at is not UNSET:
            field_dict["ended_at"] = ended_at
        if ended_reason is not UNSET:
            field_dict["ended_reason"] = ended_reason
        if script_path is not UNSET:
            field_dict["script_path"] = script_path

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        kind = d.pop("kind")

        name = d.pop("name")

        owner = d.pop("owner")

        started_at = d.pop("started_at")

        state = d.pop("state")

        def _parse_ended_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        ended_at = _parse_ended_at(d.pop("ended_at", UNSET))

        def _parse_ended_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        ended_reason = _parse_ended_reason(d.pop("ended_reason", UNSET))

        def _parse_script_path(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        script_path = _parse_script_path(d.pop("script_path", UNSET))

        python_session_view = cls(
            id=id,
            kind=kind,
            name=name,
            owner=owner,
            started_at=started_at,
            state=state,
            ended_at=ended_at,
            ended_reason=ended_reason,
            script_path=script_path,
        )

        python_session_view.additional_properties = d
        return python_session_view

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
