"""What a generator replica streams back to the ingress for one job — the one definition of that
contract — and the multiplexed model ids that route jobs to replicas holding their adapter.

A run streams `Started` (a replica took the job), `Progress` reports (throttled on the replica),
then `Finished` with the `ReplicaScoreResult` or `Failed` with the domain error, out-of-memory or
file error the run raised. A cancelled or lost run ends the stream without either.
All of it is plain picklable data; nothing here imports Ray.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..pipeline.score import ScoreResult

#: Multiplexed model id of jobs without an adapter; adapters are "adapter:<name>".
BASE_MODEL = "base"
_ADAPTER = "adapter:"


def model_id_for(adapter: str | None) -> str:
    return BASE_MODEL if adapter is None else f"{_ADAPTER}{adapter}"


def adapter_of(model_id: str) -> str | None:
    """The adapter name of a multiplexed model id (None: the base model); `ValueError` if neither."""
    if model_id == BASE_MODEL:
        return None
    if model_id.startswith(_ADAPTER) and len(model_id) > len(_ADAPTER):
        return model_id[len(_ADAPTER) :]
    raise ValueError(f"multiplexed model id {model_id!r} is neither {BASE_MODEL!r} nor '{_ADAPTER}<name>'")


@dataclass
class ReplicaScoreResult(ScoreResult):
    """A `ScoreResult` that names the replica that generated it (result metadata `replica`)."""

    replica: str = ""

    def metadata(self) -> dict[str, Any]:
        return super().metadata() | {"replica": self.replica}


@dataclass(frozen=True)
class Started:
    replica: str


@dataclass(frozen=True)
class Progress:
    phase: str
    done: int
    total: int


@dataclass(frozen=True)
class Finished:
    result: ReplicaScoreResult


@dataclass(frozen=True)
class Failed:
    #: An `ExpotionError`, `MemoryError` (the replica ran out of memory and unloaded) or `OSError`.
    error: BaseException


Event = Started | Progress | Finished | Failed
