"""Job parameters — the `params` JSON of `POST /v1/jobs` and `POST /v1/analyze` — and their one set of rules.

`JobParams` is the only declaration: each field carries its `Rule` (bounds, length, documentation)
in its metadata, and its type says the rest (`Literal[...]` for a choice, `tuple[HitPoint, ...]` for
a list of objects whose own fields carry rules the same way); everything that takes job parameters
is built from it — the service's request
schema and hence /openapi.json (generator_service/api/schemas.py), the command line's flags
(generator_service/cli.py), the extension's requests. `JobParams.validate()` applies the rules and
raises `ParamError` naming the field; the service and the extension call the same method.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from .errors import ProtocolError

#: Most takes one job may ask for (take i uses seed + i).
MAX_VARIANTS = 8
#: Seeds are 31-bit so that every client (and JSON number) carries them exactly.
SEED_LIMIT = 2**31
#: Guidance values at or below this mean "no guidance" (text and visual alike).
GUIDANCE_OFF = 1.0
#: What the beat lock moves the music onto: nothing, the performer's motion beats, the hit points
#: (cuts, markers), or both. Null (the default) is automatic: "both" when the clip shows a person, else "hits".
BeatLock = Literal["off", "motion", "hits", "both"]
BEAT_LOCK_MODES: tuple[str, ...] = typing.get_args(BeatLock)
#: The kinds of hit point: a cut (the visible shot changes) or a timeline marker.
HitKind = Literal["cut", "marker"]
#: Most hit points one job may carry.
MAX_HITS = 2000


class ParamError(ProtocolError, ValueError):
    """A job parameter breaks its rule; the message names the field."""

    hint = "Fix the named parameter (see docs/http-api.md for every field and its range)."


@dataclass(frozen=True)
class Rule:
    """What a value of one field may be. Bounds apply to numbers, `max_length` to text and lists."""

    doc: str
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    max_length: int | None = None


def _param(default: Any, doc: str, **bounds: Any) -> Any:
    """A field with its rule; `default=dataclasses.MISSING` makes it required."""
    return field(default=default, metadata={"rule": Rule(doc, **bounds)})


@dataclass(frozen=True)
class HitPoint:
    """A moment the music should accent (the `hits` parameter): `t` seconds on the source's clock
    (like `start`), what it is, and how strongly the music should mark it."""

    t: float = _param(dataclasses.MISSING, "time of the hit, seconds in the source file", ge=0.0)
    kind: HitKind = _param(dataclasses.MISSING, "cut (the visible shot changes) or marker (a timeline marker)")
    strength: float = _param(1.0, "how strongly the music should accent it", ge=0.0, le=1.0)

    @classmethod
    def of(cls, where: str, value: Any) -> Any:
        """A JSON object -> a HitPoint (its fields checked by `validate`); other values are returned
        as they are for the field's type check. `ParamError` naming `where` for unknown or missing keys."""
        if not isinstance(value, dict):
            return value
        names = field_types(cls)  # type: ignore[arg-type]  # a class is hashable; mypy reads its instances' __hash__
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ParamError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(names)})")
        missing = [n for n, (_, default, _) in rules(cls).items() if default is dataclasses.MISSING and n not in value]
        if missing:
            raise ParamError(f"{where}: missing field {missing[0]!r}")
        return cls(**value)


@dataclass
class JobParams:
    """Parameters of a job. Times are seconds in the source file; `end: null` is the clip's end."""

    prompt: str = _param("", "text description of the music", max_length=2000)
    auto_prompt: bool = _param(False, "append the prompt suggested from the video")
    start: float = _param(0.0, "start of the range in the source, seconds", ge=0.0)
    end: float | None = _param(None, "end of the range in the source, seconds (null: the clip's end)", gt=0.0)
    duration: float | None = _param(
        None, "length of the range: must equal end - start, or sets end = start + duration", gt=0.0
    )
    seed: int = _param(0, "random seed; take i uses seed + i", ge=0, lt=SEED_LIMIT)
    variants: int = _param(1, "number of takes", ge=1, le=MAX_VARIANTS)
    top_k: int = _param(250, "sample among the k most likely tokens (1: greedy)", ge=1, le=100_000)
    temperature: float = _param(1.0, "sampling temperature", ge=0.01, le=10.0)
    guidance: float = _param(3.0, "classifier-free guidance on the text; values <= 1 mean none", ge=0.0, le=50.0)
    visual_guidance: float = _param(
        1.0,
        "guidance on the visual condition; needs an adapter trained with visual dropout; values <= 1 mean none",
        ge=0.0,
        le=50.0,
    )
    adapter: str | None = _param(None, "name of an adapter the service offers (GET /v1/models)", max_length=200)
    path: str | None = _param(
        None, "a file under the service's media root instead of an upload (path mode)", max_length=4096
    )
    melody_path: str | None = _param(
        None,
        "a temp track under the service's media root whose melody the music follows (path mode; "
        "or upload it as the `melody` part); melody models only (GET /v1/models)",
        max_length=4096,
    )
    melody_start: float = _param(
        0.0, "seconds into the temp track that play at the range's start; a shorter temp loops", ge=0.0, le=86400.0
    )
    beat_lock: BeatLock | None = _param(
        None,
        "time-warp the music onto the performer's motion beats, the hits, "
        "both, or off (null: both when the clip shows a person, else hits)",
    )
    hits: tuple[HitPoint, ...] = _param(
        (),
        "moments the music should accent: [{t, kind: cut|marker, strength}], "
        "t in seconds on the source's clock; cuts also start a new prompt "
        "segment in long clips",
        max_length=MAX_HITS,
    )

    def __post_init__(self) -> None:
        if isinstance(self.hits, (list, tuple)):  # JSON objects -> HitPoint; anything else fails `validate`
            self.hits = tuple(HitPoint.of(f"hits[{i}]", h) for i, h in enumerate(self.hits))

    def validate(self) -> JobParams:
        """Check every field's rule, then the rules between fields -> self; `ParamError` naming the field."""
        _check_fields(self)
        if self.end is not None and self.end <= self.start:
            raise ParamError(f"end: {self.end} s is not after start {self.start} s")
        if (
            self.duration is not None
            and self.end is not None
            and not math.isclose(self.end - self.start, self.duration, abs_tol=1e-3)
        ):
            raise ParamError(f"duration: {self.duration} s differs from end - start = {self.end - self.start:.6f} s")
        if self.visual_guidance > GUIDANCE_OFF and not self.adapter:
            raise ParamError(
                "visual_guidance: needs an adapter (the base model does not see the video)",
                "Pick an adapter, or set the visual guidance to 1 (off).",
            )
        return self

    def resolved_end(self) -> float | None:
        """`end`, or `start + duration`, or None (the clip's end)."""
        if self.end is not None:
            return self.end
        return None if self.duration is None else self.start + self.duration

    @property
    def reads_motion(self) -> bool:
        """Whether the beat lock looks at the performer (modes motion and both, and automatic)."""
        return self.beat_lock in (None, "motion", "both")

    @property
    def guidance_scale(self) -> float:
        """The text guidance as the generator uses it (1.0 = none)."""
        return max(GUIDANCE_OFF, self.guidance)

    @property
    def visual_guidance_scale(self) -> float:
        """The visual guidance as the generator uses it (1.0 = none)."""
        return max(GUIDANCE_OFF, self.visual_guidance)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of a request (validated first). Optional fields at their "nothing" value
        (guidance off, no melody, automatic beat lock, no hits) are left out, so services from before such a
        field still accept the request."""
        data = dataclasses.asdict(self.validate())
        if self.visual_guidance <= GUIDANCE_OFF:
            del data["visual_guidance"]
        for name in ("melody_path", "melody_start", "beat_lock", "hits"):
            if not data[name]:
                del data[name]
        if "hits" in data:
            data["hits"] = list(data["hits"])
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
def field_types(cls: type = JobParams) -> dict[str, Any]:
    """Field name -> its resolved type (`str`, `float | None`, ...) of `cls` (the job parameters or
    `HitPoint`), in declaration order."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def rules(cls: type = JobParams) -> dict[str, tuple[Any, Any, Rule]]:
    """Field name -> (type, default, rule) of `cls`: what schemas and command lines are built from
    (default `dataclasses.MISSING`: required)."""
    return {f.name: (field_types(cls)[f.name], f.default, f.metadata["rule"]) for f in dataclasses.fields(cls)}


def base_type(annotation: Any) -> Any:
    """`float | None` -> float; other types as they are (`Literal[...]`, `tuple[HitPoint, ...]`)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def choices(annotation: Any) -> tuple[Any, ...] | None:
    """The values a `Literal[...]` (or `Literal[...] | None`) type allows; None for other types."""
    kind = base_type(annotation)
    return typing.get_args(kind) if typing.get_origin(kind) is Literal else None


def item_type(annotation: Any) -> type | None:
    """The item class of a `tuple[Item, ...]` type (a dataclass whose fields carry rules); None otherwise."""
    kind = base_type(annotation)
    return typing.get_args(kind)[0] if typing.get_origin(kind) is tuple else None


def _check_fields(obj: Any, prefix: str = "") -> None:
    """Every field's rule of the dataclass `obj`; names in messages are `prefix` + field."""
    for name, (annotation, _, rule) in rules(type(obj)).items():
        _check(prefix + name, getattr(obj, name), annotation, rule)


def _check(name: str, value: Any, annotation: Any, rule: Rule) -> None:
    if value is None:
        if type(None) not in typing.get_args(annotation):
            raise ParamError(f"{name}: must not be null")
        return
    allowed = choices(annotation)
    if allowed is not None:
        if not isinstance(value, str) or value not in allowed:
            raise ParamError(f"{name}: {value!r} is not one of {', '.join(map(str, allowed))}")
        return
    item = item_type(annotation)
    if item is not None:
        if not isinstance(value, tuple):
            raise ParamError(f"{name}: {value!r} is not a list")
        if rule.max_length is not None and len(value) > rule.max_length:
            raise ParamError(f"{name}: more than {rule.max_length} entries")
        for i, entry in enumerate(value):
            if not isinstance(entry, item):
                raise ParamError(f"{name}[{i}]: {entry!r} is not an object")
            _check_fields(entry, f"{name}[{i}].")
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
    for bound, test, word in (
        (rule.ge, value >= (rule.ge or 0), ">="),
        (rule.gt, value > (rule.gt or 0), ">"),
        (rule.le, value <= (rule.le or 0), "<="),
        (rule.lt, value < (rule.lt or 0), "<"),
    ):
        if bound is not None and not test:
            raise ParamError(f"{name}: {value} must be {word} {bound:g}")
