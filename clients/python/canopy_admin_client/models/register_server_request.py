from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.register_server_request_env import RegisterServerRequestEnv
    from ..models.register_server_request_headers import RegisterServerRequestHeaders


T = TypeVar("T", bound="RegisterServerRequest")


@_attrs_define
class RegisterServerRequest:
    """MCPJungle's registration JSON (`mcpjungle register -c file.json`), accepted verbatim.

    Attributes:
        name (str):
        args (list[str] | Unset):
        bearer_token (None | str | Unset):
        command (None | str | Unset):
        description (str | Unset):
        env (RegisterServerRequestEnv | Unset):
        force (bool | Unset): Replace an existing registration of the same name (also `?force=true`).
        headers (RegisterServerRequestHeaders | Unset):
        session_mode (None | str | Unset): `stateless` (default) or `stateful`.
        transport (None | str | Unset): `streamable_http` (default when `url` is given), `stdio` (default when `command`
            is given) or `sse`.
        url (None | str | Unset):
    """

    name: str
    args: list[str] | Unset = UNSET
    bearer_token: None | str | Unset = UNSET
    command: None | str | Unset = UNSET
    description: str | Unset = UNSET
    env: RegisterServerRequestEnv | Unset = UNSET
    force: bool | Unset = UNSET
    headers: RegisterServerRequestHeaders | Unset = UNSET
    session_mode: None | str | Unset = UNSET
    transport: None | str | Unset = UNSET
    url: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

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

        description = self.description

        env: dict[str, Any] | Unset = UNSET
        if not isinstance(self.env, Unset):
            env = self.env.to_dict()

        force = self.force

        headers: dict[str, Any] | Unset = UNSET
        if not isinstance(self.headers, Unset):
            headers = self.headers.to_dict()

        session_mode: None | str | Unset
        if isinstance(self.session_mode, Unset):
            session_mode = UNSET
        else:
            session_mode = self.session_mode

        transport: None | str | Unset
        if isinstance(self.transport, Unset):
            transport = UNSET
        else:
            transport = self.transport

        url: None | str | Unset
        if isinstance(self.url, Unset):
            url = UNSET
        else:
            url = self.url

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
            }
        )
        if args is not UNSET:
            field_dict["args"] = args
        if bearer_token is not UNSET:
            field_dict["bearer_token"] = bearer_token
        if command is not UNSET:
            field_dict["command"] = command
        if description is not UNSET:
            field_dict["description"] = description
        if env is not UNSET:
            field_dict["env"] = env
        if force is not UNSET:
            field_dict["force"] = force
        if headers is not UNSET:
            field_dict["headers"] = headers
        if session_mode is not UNSET:
            field_dict["session_mode"] = session_mode
        if transport is not UNSET:
            field_dict["transport"] = transport
        if url is not UNSET:
            field_dict["url"] = url

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.register_server_request_env import RegisterServerRequestEnv  # noqa: PLC0415
        from ..models.register_server_request_headers import RegisterServerRequestHeaders  # noqa: PLC0415

        d = dict(src_dict)
        name = d.pop("name")

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

        description = d.pop("description", UNSET)

        _env = d.pop("env", UNSET)
        env: RegisterServerRequestEnv | Unset
        if isinstance(_env, Unset):
            env = UNSET
        else:
            env = RegisterServerRequestEnv.from_dict(_env)

        force = d.pop("force", UNSET)

        _headers = d.pop("headers", UNSET)
        headers: RegisterServerRequestHeaders | Unset
        if isinstance(_headers, Unset):
            headers = UNSET
        else:
            headers = RegisterServerRequestHeaders.from_dict(_headers)

        def _parse_session_mode(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        session_mode = _parse_session_mode(d.pop("session_mode", UNSET))

        def _parse_transport(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        transport = _parse_transport(d.pop("transport", UNSET))

        def _parse_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        url = _parse_url(d.pop("url", UNSET))

        register_server_request = cls(
            name=name,
            args=args,
            bearer_token=bearer_token,
            command=command,
            description=description,
            env=env,
            force=force,
            headers=headers,
            session_mode=session_mode,
            transport=transport,
            url=url,
        )

        return register_server_request
