"""How a command shows an error the user can act on: `error: <message>` and, when there is one,
`hint: <hint>`, on stderr, through the command-output logger (console.py): it shows whatever the
log level."""

from __future__ import annotations

from .console import note
from .errors import ExpotionError


def report(exc: ExpotionError) -> None:
    note(f"error: {exc.message}")
    if exc.hint:
        note(f"hint: {exc.hint}")
