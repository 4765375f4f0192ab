"""Command output as logging: what the commands (the CLI, the demo, the bench entry points) tell
the user goes through the `expotion.console` logger, which writes each message as it is, INFO to
stdout and WARNING and above to stderr, whatever the root logger's level, format or handlers (it
does not propagate; `quiet_process` leaves it alone). The streams are looked up when a message is
written, so a redirected or captured `sys.stdout` gets it. Library code logs to its own module
loggers and never writes here."""

from __future__ import annotations

import logging
import sys

LOGGER = "expotion.console"


class _Streams(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        stream = sys.stdout if record.levelno < logging.WARNING else sys.stderr
        try:
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # noqa: BLE001 - logging's own contract: report, never raise
            self.handleError(record)


def console() -> logging.Logger:
    """The command-output logger, set up on first use."""
    log = logging.getLogger(LOGGER)
    if not any(isinstance(h, _Streams) for h in log.handlers):  # others (a test's capture) may be there too
        log.addHandler(_Streams())
        log.setLevel(logging.INFO)
        log.propagate = False
    return log


def say(text: str) -> None:
    """A result or a step of a command, on stdout."""
    console().info(text)


def note(text: str) -> None:
    """What is not the command's result, on stderr: an error, its hint, where a result was written."""
    console().warning(text)
