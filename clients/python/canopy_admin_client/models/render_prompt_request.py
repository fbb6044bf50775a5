from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.render_prompt_request_arguments_type_0 import RenderPromptRequestArgumentsType0


T = TypeVar("T", bound="RenderPromptRequest")


@_attrs_define
class RenderPromptRequest:
    """`POST /api/v0/prompts/render`

    Attributes:
        name (str):
        arguments (None | RenderPromptRequestArgumentsType0 | Unset):
    """

    name: str
    arguments: None | RenderPromptRequestArgumentsType0 | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.render_prompt_request_arguments_type_0 import RenderPromptRequestArgumentsType0  # noqa: PLC0415

        name = self.name

        arguments: dict[str, Any] | None | Unset
        if isinstance(self.arguments, Unset):
            arguments = UNSET
        elif isinstance(self.arguments, RenderPromptRequestArgumentsType0):
            arguments = self.arguments.to_dict()
        else:
            arguments = self.arguments

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
            }
        )
        if arguments is not UNSET:
            field_dict["arguments"] = arguments

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.render_prompt_request_arguments_type_0 import RenderPromptRequestArgumentsType0  # noqa: PLC0415

        d = dict(src_dict)
        name = d.pop("name")

        def _parse_arguments(data: object) -> None | RenderPromptRequestArgumentsType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                arguments_type_0 = RenderPromptRequestArgumentsType0.from_dict(data)

                return arguments_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | RenderPromptRequestArgumentsType0 | Unset, data)

        arguments = _parse_arguments(d.pop("arguments", UNSET))

        render_prompt_request = cls(
            name=name,
            arguments=arguments,
        )

        return render_prompt_request
