from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.python_session_view import PythonSessionView


T = TypeVar("T", bound="PythonEnvView")


@_attrs_define
class PythonEnvView:
    """A python environment of the tenant.

    Attributes:
        allow_egress (bool): Whether its code may reach the network.
        created_at (str):
        id (str): `env_...`: the `env_id` the python tools take.
        name (str):
        owner (str): The principal that created it (`user:alice`, `client:cursor`).
        python_version (str):
        sessions (list[PythonSessionView]): Its REPL sessions and processes the caller may see, oldest first.
        status (str): `active` or `destroyed`.
        updated_at (str):
    """

    allow_egress: bool
    created_at: str
    id: str
    name: str
    owner: str
    python_version: str
    sessions: list[PythonSessionView]
    status: str
    updated_at: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        allow_egress = self.allow_egress

        created_at = self.created_at

        id = self.id

        name = self.name

        owner = self.owner

        python_version = self.python_version

        sessions = []
        for sessions_item_data in self.sessions:
            sessions_item = sessions_item_data.to_dict()
            sessions.append(sessions_item)

        status = self.status

        updated_at = self.updated_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "allow_egress": allow_egress,
                "created_at": created_at,
                "id": id,
                "name": name,
                "owner": owner,
                "python_version": python_version,
                "sessions": sessions,
                "status": status,
                "updated_at": updated_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.python_session_view import PythonSessionView  # noqa: PLC0415

        d = dict(src_dict)
        allow_egress = d.pop("allow_egress")

        created_at = d.pop("created_at")

        id = d.pop("id")

        name = d.pop("name")

        owner = d.pop("owner")

        python_version = d.pop("python_version")

        sessions = []
        _sessions = d.pop("sessions")
        for sessions_item_data in _sessions:
            sessions_item = PythonSessionView.from_dict(sessions_item_data)

            sessions.append(sessions_item)

        status = d.pop("status")

        updated_at = d.pop("updated_at")

        python_env_view = cls(
            allow_egress=allow_egress,
            created_at=created_at,
            id=id,
            name=name,
            owner=owner,
            python_version=python_version,
            sessions=sessions,
            status=status,
            updated_at=updated_at,
        )

        python_env_view.additional_properties = d
        return python_env_view

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
