"""The error base shared by the service and the extension: a message plus a `hint` saying what to do."""

from __future__ import annotations


class ExpotionError(Exception):
    """Base of every error Expotion raises on purpose; `hint` is one sentence saying what to do."""

    hint: str = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def user_text(self) -> str:
        """Message and hint as one line (for a report line or a log)."""
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ProtocolError(ExpotionError, ValueError):
    """A request is invalid before sending, or a message does not match the contract."""

    hint = "The extension and the service may be different versions; update both."
