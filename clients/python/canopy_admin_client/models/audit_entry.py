from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.audit_kind import AuditKind
from ..models.audit_outcome import AuditOutcome
from ..types import UNSET, Unset

T = TypeVar("T", bound="AuditEntry")


@_attrs_define
class AuditEntry:
    """One audit entry: a call or an admin action.

    Attributes:
        actor (str): Who: `user:NAME`, `client:NAME`, `user:dev` (development mode), `service:session-worker`
            (catalog discovery), `system`.
        at (str): When (RFC 3339, UTC, microseconds): when an admin action was recorded, when a call ended.
        kind (AuditKind): Which entries: `call` (tool calls, prompt gets, resource reads, ...) or `admin` (changes).
        outcome (AuditOutcome): `ok`; `tool_error` (the tool answered with `isError: true`); `error` (no result: the
            upstream failed, timed out, was unreachable, or the call was cancelled; see `error_code`).
            Admin entries are always `ok`: a refused change leaves no event.
        tenant (str): The tenant: always the caller's own.
        aggregate_id (None | str | Unset): Admin actions: which one (its name).
        aggregate_type (None | str | Unset): Admin actions: the kind of thing changed: `server`, `group`, `user`,
            `mcp_client`, `tenant`.
        arguments_sha256 (None | str | Unset): Calls: lowercase hex SHA-256 of the arguments as canonical JSON (keys
            sorted, no
            whitespace; no arguments count as `{}`); absent for reads. Never the arguments.
        call_id (None | str | Unset): Calls: the call's id.
        error_code (None | str | Unset): Calls with outcome `error`: `UPSTREAM_ERROR`, `UPSTREAM_UNAVAILABLE`,
            `TIMEOUT`, `CANCELLED`, `NOT_FOUND`, ...
        event_id (None | str | Unset): Admin actions: the event's id.
        event_type (None | str | Unset): Admin actions: what happened, e.g. `server.registered`, `user.created`,
            `group.updated`.
        latency_ms (float | None | Unset): Calls: how long the worker took, in milliseconds (microsecond precision).
        method (None | str | Unset): Calls: `tools/call`, `prompts/get`, `resources/read`, `completion/complete`,
            `resources/subscribe`.
        name (None | str | Unset): Calls: the tool or prompt name, or the resource URI, in the server's own names.
        server (None | str | Unset): Calls: the server called.
        summary (None | str | Unset): Admin actions, some: what changed, from fields that hold no secret: `enabled` /
            `disabled` (a server), `tool add,sub disabled` (items of a server), `role admin` (a
            user), `transport stdio` (a registration). Nothing else of the change is shown.
    """

    actor: str
    at: str
    kind: AuditKind
    outcome: AuditOutcome
    tenant: str
    aggregate_id: None | str | Unset = UNSET
    aggregate_type: None | str | Unset = UNSET
    arguments_sha256: None | str | Unset = UNSET
    call_id: None | str | Unset = UNSET
    error_code: None | str | Unset = UNSET
    event_id: None | str | Unset = UNSET
    event_type: None | str | Unset = UNSET
    latency_ms: float | None | Unset = UNSET
    method: None | str | Unset = UNSET
    name: None | str | Unset = UNSET
    server: None | str | Unset = UNSET
    summary: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        actor = self.actor

        at = self.at

        kind = self.kind.value

        outcome = self.outcome.value

        tenant = self.tenant

        aggregate_id: None | str | Unset
        if isinstance(self.aggregate_id, Unset):
            aggregate_id = UNSET
        else:
            aggregate_id = self.aggregate_id

        aggregate_type: None | str | Unset
        if isinstance(self.aggregate_type, Unset):
            aggregate_type = UNSET
        else:
            aggregate_type = self.aggregate_type

        arguments_sha256: None | str | Unset
        if isinstance(self.arguments_sha256, Unset):
            arguments_sha256 = UNSET
        else:
            arguments_sha256 = self.arguments_sha256

        call_id: None | str | Unset
        if isinstance(self.call_id, Unset):
            call_id = UNSET
        else:
            call_id = self.call_id

        error_code: None | str | Unset
        if isinstance(self.error_code, Unset):
            error_code = UNSET
        else:
            error_code = self.error_code

        event_id: None | str | Unset
        if isinstance(self.event_id, Unset):
            event_id = UNSET
        else:
            event_id = self.event_id

        event_type: None | str | Unset
        if isinstance(self.event_type, Unset):
            event_type = UNSET
        else:
            event_type = self.event_type

        latency_ms: float | None | Unset
        if isinstance(self.latency_ms, Unset):
            latency_ms = UNSET
        else:
            latency_ms = self.latency_ms

        method: None | str | Unset
        if isinstance(self.method, Unset):
            method = UNSET
        else:
            method = self.method

        name: None | str | Unset
        if isinstance(self.name, Unset):
            name = UNSET
        else:
            name = self.name

        server: None | str | Unset
        if isinstance(self.server, Unset):
            server = UNSET
        else:
            server = self.server

        summary: None | str | Unset
        if isinstance(self.summary, Unset):
            summary = UNSET
        else:
            summary = self.summary

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "actor": actor,
                "at": at,
                "kind": kind,
                "outcome": outcome,
                "tenant": tenant,
            }
        )
        if aggregate_id is not UNSET:
            field_dict["aggregate_id"] = aggregate_id
        if aggregate_type is not UNSET:
            field_dict["aggregate_type"] = aggregate_type
        if arguments_sha256 is not UNSET:
            field_dict["arguments_sha256"] = arguments_sha256
        if call_id is not UNSET:
            field_dict["call_id"] = call_id
        if error_code is not UNSET:
            field_dict["error_code"] = error_code
        if event_id is not UNSET:
            field_dict["event_id"] = event_id
        if event_type is not UNSET:
            field_dict["event_type"] = event_type
        if latency_ms is not UNSET:
            field_dict["latency_ms"] = latency_ms
        if method is not UNSET:
            field_dict["method"] = method
        if name is not UNSET:
            field_dict["name"] = name
        if server is not UNSET:
            field_dict["server"] = server
        if summary is not UNSET:
            field_dict["summary"] = summary

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        actor = d.pop("actor")

        at = d.pop("at")

        kind = AuditKind(d.pop("kind"))

        outcome = AuditOutcome(d.pop("outcome"))

        tenant = d.pop("tenant")

        def _parse_aggregate_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        aggregate_id = _parse_aggregate_id(d.pop("aggregate_id", UNSET))

        def _parse_aggregate_type(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        aggregate_type = _parse_aggregate_type(d.pop("aggregate_type", UNSET))

        def _parse_arguments_sha256(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        arguments_sha256 = _parse_arguments_sha256(d.pop("arguments_sha256", UNSET))

        def _parse_call_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        call_id = _parse_call_id(d.pop("call_id", UNSET))

        def _parse_error_code(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        error_code = _parse_error_code(d.pop("error_code", UNSET))

        def _parse_event_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        event_id = _parse_event_id(d.pop("event_id", UNSET))

        def _parse_event_type(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        event_type = _parse_event_type(d.pop("event_type", UNSET))

        def _parse_latency_ms(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        latency_ms = _parse_latency_ms(d.pop("latency_ms", UNSET))

        def _parse_method(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        method = _parse_method(d.pop("method", UNSET))

        def _parse_name(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        name = _parse_name(d.pop("name", UNSET))

        def _parse_server(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        server = _parse_server(d.pop("server", UNSET))

        def _parse_summary(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        summary = _parse_summary(d.pop("summary", UNSET))

        audit_entry = cls(
            actor=actor,
            at=at,
            kind=kind,
            outcome=outcome,
            tenant=tenant,
            aggregate_id=aggregate_id,
            aggregate_type=aggregate_type,
            arguments_sha256=arguments_sha256,
            call_id=call_id,
            error_code=error_code,
            event_id=event_id,
            event_type=event_type,
            latency_ms=latency_ms,
            method=method,
            name=name,
            server=server,
            summary=summary,
        )

        audit_entry.additional_properties = d
        return audit_entry

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
