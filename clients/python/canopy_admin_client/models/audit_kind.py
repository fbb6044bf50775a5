from enum import StrEnum


class AuditKind(StrEnum):
    ADMIN = "admin"
    CALL = "call"

    def __str__(self) -> str:
        return str(self.value)
