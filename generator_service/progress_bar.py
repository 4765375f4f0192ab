"""Progress on a terminal: the `(phase, done, total)` callback drawn as tqdm bars on stderr.

Used by every command (score, analyze, sync, prepare-dataset, train, evaluate, download, the demo);
a module of its own at the bottom of the layers so that commands in any package can draw bars.
"""

from __future__ import annotations

import sys
from typing import Any


class BarProgress:
    """A `(phase, done, total)` callback drawing one tqdm bar per phase on stderr."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bar: Any = None
        self._phase = ""

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if phase != self._phase or self._bar is None:
            self.close()
            self._bar = tqdm(total=total, desc=f"{phase:>12}", unit="step", leave=True, file=sys.stderr)
            self._phase = phase
        self._bar.total = total
        self._bar.update(done - self._bar.n)  # tqdm throttles the redraws

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
