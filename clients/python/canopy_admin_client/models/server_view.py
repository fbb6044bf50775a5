from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.server_view_env import ServerViewEnv
    from ..models.server_view_headers import ServerViewHeaders


T = TypeVar("T", bound="ServerView")


@_attrs_define
class ServerView:
    """A registered server as the API shows it. Secrets never appear: header and env values and
    the bearer token are replaced by `"***"`.

        Attributes:
            description (str):
            enabled (bool): False when the whole server is disabled.
            id (str):
            name (str):
            registered_at (str):
            session_mode (str):
            status (str): `pending` (catalog not discovered yet), `ready`, or `error` (see `status_error`).
            tool_count (int):
            transport (str): `streamable_http`, `stdio`, `sse`, or `builtin` (a server Canopy hosts itself, in every
                tenant: `grid`, `python`; it cannot be registered, replaced or deregistered).
            updated_at (str):
            args (list[str] | Unset):
            bearer_token (None | str | Unset):
            command (None | str | Unset):
            env (ServerViewEnv | Unset):
            headers (ServerViewHeaders | Unset):
            status_error (None | str | Unset):
            url (None | str | Unset):
    """

    description: str
    enabled: bool
    id: str
    name: str
    registered_at: str
    session_mode: str
    status: str
    tool_count: int
    transport: str
    updated_at: str
    args: list[str] | Unset = UNSET
    bearer_token: None | str | Unset = UNSET
    command: None | str | Unset = UNSET
    env: ServerViewEnv | Unset = UNSET
    headers: ServerViewHeaders | Unset = UNSET
    status_error: None | str | Unset = UNSET
    url: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        description = self.description

        enabled = self.enabled

        id = self.id

        name = self.name

        registered_at = self.registered_at

        session_mode = self.session_mode

        status = self.status

        tool_count = self.tool_count

        transport = self.transport

        updated_at = self.updated_at

        args: list[str] | Unset = UNSET
        if not isinstance(self.args, Unset):
            args = self.args

        bearer_token: None | str | Unset
        if isinstance(self.bearer_token, Unset):
            bearer_token = UNSET
        else:
            bearer_token = self.bearer_token

        command: None | str | Unset
        if isinstance(self.command, Unset):
            command = UNSET
        else:
            command = self.command

        env: dict[str, Any] | Unset = UNSET
        if not isinstance(self.env, Unset):
            env = self.env.to_dict()

        headers: dict[str, Any] | Unset = UNSET
        if not isinstance(self.headers, Unset):
            headers = self.headers.to_dict()

        status_error: None | str | Unset
        if isinstance(self.status_error, Unset):
            status_error = UNSET
        else:
            status_error = self.status_error

        url: None | str | Unset
        if isinstance(self.url, Unset):
            url = UNSET
        else:
            url = self.url

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "description": description,
                "enabled": enabled,
                "id": id,
                "name": name,
                "registered_at": registered_at,
                "session_mode": session_mode,
                "status": status,
                "tool_count": tool_count,
                "transport": transport,
                "updated_at": updated_at,
            }
        )
        if args is not UNSET:
            field_dict["args"] = args
        if bearer_token is not UNSET:
            field_dict["bearer_token"] = bearer_token
        if command is not UNSET:
            field_dict["command"] = command
        if env is not UNSET:
            field_dict["env"] = env
        if headers is not UNSET:
            field_dict["headers"] = headers
        if status_error is not UNSET:
            field_dict["status_error"] = status_error
        if url is not UNSET:
            field_dict["url"] = url

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.server_view_env import ServerViewEnv  # noqa: PLC0415
        from ..models.server_view_headers import ServerViewHeaders  # noqa: PLC0415

        d = dict(src_dict)
        description = d.pop("description")

        enabled = d.pop("enabled")

        id = d.pop("id")

        name = d.pop("name")

        registered_at = d.pop("registered_at")

        session_mode = d.pop("session_mode")

        status = d.pop("status")

        tool_count = d.pop("tool_count")

        transport = d.pop("transport")

        updated_at = d.pop("updated_at")

        args = cast(list[str], d.pop("args", UNSET))

        def _parse_bearer_token(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        bearer_token = _parse_bearer_token(d.pop("bearer_token", UNSET))

        def _parse_command(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        command = _parse_command(d.pop("command", UNSET))

        _env = d.pop("env", UNSET)
        env: ServerViewEnv | Unset
        if isinstance(_env, Unset):
            env = UNSET
        else:
            env = ServerViewEnv.from_dict(_env)

        _headers = d.pop("headers", UNSET)
        headers: ServerViewHeaders | Unset
        if isinstance(_headers, Unset):
            headers = UNSET
        else:
            headers = ServerViewHeaders.from_dict(_headers)

        def _parse_status_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        status_error = _parse_status_error(d.pop("status_error", UNSET))

        def _parse_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        url = _parse_url(d.pop("url", UNSET))

        server_view = cls(
            description=description,
            enabled=enabled,
            id=id,
            name=name,
            registered_at=registered_at,
            session_mode=session_mode,
            status=status,
            tool_count=tool_count,
            transport=transport,
            updated_at=updated_at,
            args=args,
            bearer_token=bearer_token,
            command=command,
            env=env,
            headers=headers,
            status_error=status_error,
            url=url,
        )

        server_view.additional_properties = d
        return server_view

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
