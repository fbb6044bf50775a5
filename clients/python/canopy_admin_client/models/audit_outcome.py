from enum import StrEnum


class AuditOutcome(StrEnum):
    ERROR = "error"
    OK = "ok"
    TOOL_ERROR = "tool_error"

    def __str__(self) -> str:
        return str(self.value)
