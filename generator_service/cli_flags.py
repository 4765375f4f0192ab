"""Command-line flags built from the declarations they stand for, never listed by hand.

- Job parameters (`score`): from `expotion_protocol.params.JobParams` — the same rules, defaults and
  documentation as the HTTP API and the extension (`params_from_args` validates with them).
- Settings (`serve`, `serve --ray`): from the pydantic settings models' fields and descriptions
  (`ServiceSettings`, `ScaleSettings`). A field `foo_s` (seconds) becomes `--foo`; a flag left
  out means "the setting's default or its `EXPOTION_*` environment variable".
"""

from __future__ import annotations

import argparse
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from expotion_protocol.params import JobParams, base_type, rules

#: The job parameters `score` takes as flags (the adapter is a folder there, the range `--start/--end`).
SCORE_PARAMS = ("prompt", "auto_prompt", "seed", "variants", "top_k", "temperature", "guidance", "visual_guidance",
                "start", "end")


def flag_name(field: str) -> str:
    """`idle_unload_s` -> `--idle-unload` (a seconds suffix is the unit, not part of the name)."""
    return "--" + field.removesuffix("_s").replace("_", "-")


def _bounds(rule: Any) -> str:
    parts = [f"{word} {int(value) if float(value).is_integer() else value}" for word, value in ((">=", rule.ge), (">", rule.gt), ("<=", rule.le), ("<", rule.lt))
             if value is not None]
    return f" ({', '.join(parts)})" if parts else ""


def add_param_flags(parser: argparse.ArgumentParser, names: tuple[str, ...] = SCORE_PARAMS) -> None:
    """One flag per job parameter in `names`, typed, defaulted and documented by its rule."""
    declared = rules()
    for name in names:
        annotation, default, rule = declared[name]
        kind = base_type(annotation)
        if kind is bool:
            parser.add_argument(flag_name(name), dest=name, action="store_true", help=rule.doc)
        else:
            shown = "" if default in (None, "") else f"; default {default}"
            parser.add_argument(flag_name(name), dest=name, type=kind, default=default,
                                help=f"{rule.doc}{_bounds(rule)}{shown}")


def params_from_args(args: argparse.Namespace, names: tuple[str, ...] = SCORE_PARAMS, **fields: Any) -> JobParams:
    """The validated job parameters of the parsed flags (plus `fields`); `ParamError` naming the field."""
    return JobParams(**{name: getattr(args, name) for name in names}, **fields).validate()


def add_settings_flags(parser: argparse._ActionsContainer, model: type[BaseModel], *, skip: tuple[str, ...] = (),
                       names: dict[str, str] | None = None) -> dict[str, str]:
    """One flag per field of the settings `model` (but `skip`), default None ("not given"); `names`
    renames a field's flag. -> {dest: field} for `settings_from_args`."""
    dests: dict[str, str] = {}
    for field, info in model.model_fields.items():
        if field in skip:
            continue
        flag = (names or {}).get(field) or flag_name(field)
        dest = flag.removeprefix("--").replace("-", "_")
        kind = _flag_type(info.annotation)
        default = None if info.default_factory is not None else info.default
        shown = "" if default is None else f" (default {default})"
        if kind is bool:
            parser.add_argument(flag, dest=dest, action="store_const", const=not default, default=None,
                                help=f"{info.description}{shown}")
        else:
            parser.add_argument(flag, dest=dest, type=kind, default=None, help=f"{info.description}{shown}")
        dests[dest] = field
    return dests


def settings_from_args(args: argparse.Namespace, dests: dict[str, str]) -> dict[str, Any]:
    """The settings fields given on the command line: {field: value}."""
    return {field: getattr(args, dest) for dest, field in dests.items() if getattr(args, dest) is not None}


def _flag_type(annotation: Any) -> Any:
    kind = base_type(annotation)
    if typing.get_origin(kind) is typing.Literal:
        return str
    return kind if kind in (str, int, float, bool, Path) else str
