"""How a command shows an error the user can act on: `error: <message>` and, when there is one,
`hint: <hint>`, on stderr. Command output (the CLI, the demo, `python -m` bench entry points), not
logging: it must show whatever the log level."""

from __future__ import annotations

import sys

from .errors import ExpotionError


def report(exc: ExpotionError) -> None:
    print(f"error: {exc.message}", file=sys.stderr)
    if exc.hint:
        print(f"hint: {exc.hint}", file=sys.stderr)
