from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.failure_highlight import FailureHighlight
    from ..models.log_entry_view import LogEntryView


T = TypeVar("T", bound="JobLogsView")


@_attrs_define
class JobLogsView:
    """
    Attributes:
        has_more (bool):
        items (list[LogEntryView]):
        job_id (str):
        usage_hint (str):
        failure_highlight (FailureHighlight | None | Unset):
        next_cursor (None | str | Unset): Pass as `cursor` to read what came after; also when `has_more` is false, to
            poll.
    """

    has_more: bool
    items: list[LogEntryView]
    job_id: str
    usage_hint: str
    failure_highlight: FailureHighlight | None | Unset = UNSET
    next_cursor: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.failure_highlight import FailureHighlight  # noqa: PLC0415

        has_more = self.has_more

        items = []
        for items_item_data in self.items:
            items_item = items_item_data.to_dict()
            items.append(items_item)

        job_id = self.job_id

        usage_hint = self.usage_hint

        failure_highlight: dict[str, Any] | None | Unset
        if isinstance(self.failure_highlight, Unset):
            failure_highlight = UNSET
        elif isinstance(self.failure_highlight, FailureHighlight):
            failure_highlight = self.failure_highlight.to_dict()
        else:
            failure_highlight = self.failure_highlight

        next_cursor: None | str | Unset
        if isinstance(self.next_cursor, Unset):
            next_cursor = UNSET
        else:
            next_cursor = self.next_cursor

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "has_more": has_more,
                "items": items,
                "job_id": job_id,
                "usage_hint": usage_hint,
            }
        )
        if failure_highlight is not UNSET:
            field_dict["failure_highlight"] = failure_highlight
        if next_cursor is not UNSET:
            field_dict["next_cursor"] = next_cursor

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.failure_highlight import FailureHighlight  # noqa: PLC0415
        from ..models.log_entry_view import LogEntryView  # noqa: PLC0415

        d = dict(src_dict)
        has_more = d.pop("has_more")

        items = []
        _items = d.pop("items")
        for items_item_data in _items:
            items_item = LogEntryView.from_dict(items_item_data)

            items.append(items_item)

        job_id = d.pop("job_id")

        usage_hint = d.pop("usage_hint")

        def _parse_failure_highlight(data: object) -> FailureHighlight | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                failure_highlight_type_0 = FailureHighlight.from_dict(data)

                return failure_highlight_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(FailureHighlight | None | Unset, data)

        failure_highlight = _parse_failure_highlight(d.pop("failure_highlight", UNSET))

        def _parse_next_cursor(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        next_cursor = _parse_next_cursor(d.pop("next_cursor", UNSET))

        job_logs_view = cls(
            has_more=has_more,
            items=items,
            job_id=job_id,
            usage_hint=usage_hint,
            failure_highlight=failure_highlight,
            next_cursor=next_cursor,
        )

        job_logs_view.additional_properties = d
        return job_logs_view

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
