"""Job parameters — the `params` JSON of `POST /v1/jobs` and `POST /v1/analyze` — and their one set of rules.

`JobParams` is the only declaration: each field carries its `Rule` (bounds, length, documentation)
in its metadata, and everything that takes job parameters is built from it — the service's request
schema and hence /openapi.json (generator_service/api/schemas.py), the command line's flags
(generator_service/cli.py), the extension's requests. `JobParams.validate()` applies the rules and
raises `ParamError` naming the field; the service and the extension call the same method.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from .errors import ProtocolError

#: Most takes one job may ask for (take i uses seed + i).
MAX_VARIANTS = 8
#: Seeds are 31-bit so that every client (and JSON number) carries them exactly.
SEED_LIMIT = 2**31
#: Guidance values at or below this mean "no guidance" (text and visual alike).
GUIDANCE_OFF = 1.0


class ParamError(ProtocolError, ValueError):
    """A job parameter breaks its rule; the message names the field."""

    hint = "Fix the named parameter (see docs/http-api.md for every field and its range)."


@dataclass(frozen=True)
class Rule:
    """What a value of one field may be. Bounds apply to numbers, `max_length` to text."""

    doc: str
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    max_length: int | None = None


def _param(default: Any, doc: str, **bounds: Any) -> Any:
    return field(default=default, metadata={"rule": Rule(doc, **bounds)})


@dataclass
class JobParams:
    """Parameters of a job. Times are seconds in the source file; `end: null` is the clip's end."""

    prompt: str = _param("", "text description of the music", max_length=2000)
    auto_prompt: bool = _param(False, "append the prompt suggested from the video")
    start: float = _param(0.0, "start of the range in the source, seconds", ge=0.0)
    end: float | None = _param(None, "end of the range in the source, seconds (null: the clip's end)", gt=0.0)
    duration: float | None = _param(None, "length of the range: must equal end - start, or sets end = start + "
                                          "duration", gt=0.0)
    seed: int = _param(0, "random seed; take i uses seed + i", ge=0, lt=SEED_LIMIT)
    variants: int = _param(1, "number of takes", ge=1, le=MAX_VARIANTS)
    top_k: int = _param(250, "sample among the k most likely tokens (1: greedy)", ge=1, le=100_000)
    temperature: float = _param(1.0, "sampling temperature", ge=0.01, le=10.0)
    guidance: float = _param(3.0, "classifier-free guidance on the text; values <= 1 mean none", ge=0.0, le=50.0)
    visual_guidance: float = _param(1.0, "guidance on the visual condition; needs an adapter trained with visual "
                                         "dropout; values <= 1 mean none", ge=0.0, le=50.0)
    adapter: str | None = _param(None, "name of an adapter the service offers (GET /v1/models)", max_length=200)
    path: str | None = _param(None, "a file under the service's media root instead of an upload (path mode)",
                              max_length=4096)

    def validate(self) -> JobParams:
        """Check every field's rule, then the rules between fields -> self; `ParamError` naming the field."""
        hints = field_types()
        for f in dataclasses.fields(self):
            _check(f.name, getattr(self, f.name), hints[f.name], f.metadata["rule"])
        if self.end is not None and self.end <= self.start:
            raise ParamError(f"end: {self.end} s is not after start {self.start} s")
        if self.duration is not None and self.end is not None \
                and not math.isclose(self.end - self.start, self.duration, abs_tol=1e-3):
            raise ParamError(f"duration: {self.duration} s differs from end - start = {self.end - self.start:.6f} s")
        if self.visual_guidance > GUIDANCE_OFF and not self.adapter:
            raise ParamError("visual_guidance: needs an adapter (the base model does not see the video)",
                             "Pick an adapter, or set the visual guidance to 1 (off).")
        return self

    def resolved_end(self) -> float | None:
        """`end`, or `start + duration`, or None (the clip's end)."""
        if self.end is not None:
            return self.end
        return None if self.duration is None else self.start + self.duration

    @property
    def guidance_scale(self) -> float:
        """The text guidance as the generator uses it (1.0 = none)."""
        return max(GUIDANCE_OFF, self.guidance)

    @property
    def visual_guidance_scale(self) -> float:
        """The visual guidance as the generator uses it (1.0 = none)."""
        return max(GUIDANCE_OFF, self.visual_guidance)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of a request (validated first). Optional guidance that is off is left out,
        so services from before such a field still accept the request."""
        data = dataclasses.asdict(self.validate())
        if self.visual_guidance <= GUIDANCE_OFF:
            del data["visual_guidance"]
        return data

    @classmethod
    def from_json(cls, data: Any) -> JobParams:
        """A request's JSON object -> validated params; unknown fields are an error."""
        if not isinstance(data, dict):
            raise ParamError(f"params: expected a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - set(field_types()))
        if unknown:
            raise ParamError(f"{unknown[0]}: unknown parameter (known: {', '.join(field_types())})")
        return cls(**data).validate()


@cache
def field_types() -> dict[str, Any]:
    """Field name -> its resolved type (`str`, `float | None`, ...), in declaration order."""
    hints = typing.get_type_hints(JobParams)
    return {f.name: hints[f.name] for f in dataclasses.fields(JobParams)}


def rules() -> dict[str, tuple[Any, Any, Rule]]:
    """Field name -> (type, default, rule): what schemas and command lines are built from."""
    return {f.name: (field_types()[f.name], f.default, f.metadata["rule"]) for f in dataclasses.fields(JobParams)}


def base_type(annotation: Any) -> type:
    """`float | None` -> float."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    kind: type = args[0] if args else annotation
    return kind


def _check(name: str, value: Any, annotation: Any, rule: Rule) -> None:
    if value is None:
        if type(None) not in typing.get_args(annotation):
            raise ParamError(f"{name}: must not be null")
        return
    kind = base_type(annotation)
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise ParamError(f"{name}: {value!r} is not a {kind.__name__}")
    if kind is str:
        if rule.max_length is not None and len(value) > rule.max_length:
            raise ParamError(f"{name}: longer than {rule.max_length} characters")
        return
    if kind is bool:
        return
    if not math.isfinite(value):
        raise ParamError(f"{name}: {value} is not a finite number")
    for bound, test, word in ((rule.ge, value >= (rule.ge or 0), ">="), (rule.gt, value > (rule.gt or 0), ">"),
                              (rule.le, value <= (rule.le or 0), "<="), (rule.lt, value < (rule.lt or 0), "<")):
        if bound is not None and not test:
            raise ParamError(f"{name}: {value} must be {word} {bound:g}")
