"""Hit points: moments of the picture the music should accent (cuts, timeline markers), and their
JSON shape `[{"t": seconds, "kind": "cut" | "marker", "strength": 0..1}]` (the `--hits` file of
`sync`; later the `hits` job parameter and what `score_timeline` sends).

`t` is on the clock of whoever sends the list; `shift_hits` moves a list onto another clock (e.g.
from the video's timeline to a range starting at `start`) and keeps the ones inside the range.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError

#: The kinds of hit: a cut (the visible shot changes) or a timeline marker.
HIT_KINDS = ("cut", "marker")


@dataclass(frozen=True)
class Hit:
    """One hit point: time `t` (seconds), `kind` ("cut" | "marker"), `strength` 0..1 (how much the
    music should accent it; a lock weighs strong hits above weak ones)."""

    t: float
    kind: str
    strength: float = 1.0

    def __post_init__(self) -> None:
        if not (isinstance(self.t, (int, float)) and math.isfinite(self.t) and self.t >= 0):
            raise ConfigError(f"hit t: must be a finite number of seconds >= 0, got {self.t!r}")
        if self.kind not in HIT_KINDS:
            raise ConfigError(f"hit kind: {self.kind!r} is not one of {', '.join(HIT_KINDS)}")
        if not (isinstance(self.strength, (int, float)) and 0.0 <= self.strength <= 1.0):
            raise ConfigError(f"hit strength: must lie in 0..1, got {self.strength!r} (hit at {self.t} s)")

    def to_dict(self) -> dict[str, Any]:
        return {"t": self.t, "kind": self.kind, "strength": self.strength}


def parse_hits(data: Any) -> list[Hit]:
    """A JSON-decoded hit list -> hits sorted by time (ConfigError naming the bad entry)."""
    if not isinstance(data, list):
        raise ConfigError(f"hits: expected a JSON list of {{t, kind, strength}}, got {type(data).__name__}")
    hits = []
    for i, entry in enumerate(data):
        if not isinstance(entry, dict) or "t" not in entry or "kind" not in entry:
            raise ConfigError(f'hits[{i}]: expected {{"t": seconds, "kind": "cut"|"marker"}}, got {entry!r}')
        unknown = set(entry) - {"t", "kind", "strength"}
        if unknown:
            raise ConfigError(f"hits[{i}]: unknown field(s) {', '.join(sorted(unknown))}")
        hits.append(Hit(entry["t"], entry["kind"], entry.get("strength", 1.0)))
    return sorted(hits, key=lambda h: h.t)


def load_hits(path: Path) -> list[Hit]:
    """Read a hits JSON file (see the module docstring)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"hits file {path}: cannot be read ({err.strerror or err})") from err
    except json.JSONDecodeError as err:
        raise ConfigError(f"hits file {path}: not valid JSON ({err.msg}, line {err.lineno})") from err
    return parse_hits(data)


def shift_hits(hits: Iterable[Hit], start: float, end: float) -> list[Hit]:
    """The hits with `start <= t < end`, moved to a clock whose zero is `start`."""
    return [Hit(h.t - start, h.kind, h.strength) for h in hits if start <= h.t < end]
