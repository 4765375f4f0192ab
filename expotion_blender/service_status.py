"""What the extension knows about the service, as last checked: its health and models (or the error
of the check), for which URL, when, and whether a check is running. Plain data without bpy or
threads: the runtime (main thread) records each answer the worker brings back and asks it whether
Score may go on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from expotion_protocol.shapes import Health, Models

#: The adapter menu's first entry: the base model.
BASE_MODEL_ITEM = ("NONE", "None (base model)", "No adapter: zero-shot")


@dataclass
class ServiceStatus:
    health: Health | None = None
    models: Models | None = None
    error: str = ""
    hint: str = ""
    checking: bool = False
    url: str = ""
    #: `time.monotonic()` of the last answer (0: never checked, or forgotten)
    checked_at: float = 0.0
    #: The adapter menu's items: the base model, then the service's adapters as last listed
    adapter_items: list[tuple[str, str, str]] = field(default_factory=lambda: [BASE_MODEL_ITEM])

    def record(self, url: str, health: Health | None, models: Models | None, error: str, hint: str = "") -> None:
        """A check of `url` ended: its answer, or the error (with a hint) that stood for one."""
        self.health, self.models, self.error = health, models, error
        self.hint = hint if error else ""
        self.checking, self.url, self.checked_at = False, url, time.monotonic()
        names = models.adapters if models else ()
        self.adapter_items[:] = [BASE_MODEL_ITEM] + [(n, n, f"Adapter {n}") for n in names]

    def forget(self) -> None:
        """Nothing known any more (the add-on stops): the next Score asks again."""
        self.record("", None, None, "")
        self.checked_at = 0.0

    def fresh(self, url: str, within_s: float) -> bool:
        """The service at `url` answered (or failed to) in the last `within_s` seconds."""
        return (
            self.url == url
            and not self.checking
            and self.checked_at > 0
            and time.monotonic() - self.checked_at < within_s
        )

    def stale(self, url: str, after_s: float) -> bool:
        """Another service than `url` was checked last, or the check is older than `after_s`."""
        return self.url != url or time.monotonic() - self.checked_at > after_s

    def refusal(self, url: str) -> str:
        """Why the service at `url` cannot take a job, as last checked (empty: fine, or not known)."""
        if self.url != url:
            return ""
        if self.error:
            return self.error
        return self.health.refusal() if self.health is not None else ""

    def refusal_hint(self) -> str:
        """What to do about the refusal: the service's own hint, or the check's."""
        return self.health.hint if self.health is not None else self.hint

    def reads_paths(self) -> bool:
        """Whether the service, as last checked, reads local video paths (its health's `path_mode`)."""
        return self.health is not None and bool(self.health.path_mode)

    def as_dict(self) -> dict[str, Any]:
        return {
            "health": self.health,
            "models": self.models,
            "error": self.error,
            "hint": self.hint,
            "checking": self.checking,
            "url": self.url,
            "checked_at": self.checked_at,
        }
