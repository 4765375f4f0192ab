"""Command-line flags built from the declarations they stand for, never listed by hand.

- Job parameters (`score`): from `expotion_protocol.params.JobParams` — the same rules, defaults and
  documentation as the HTTP API and the extension (`params_from_args` validates with them). A
  choice (`Literal[...]`) becomes a flag with `choices`; a list of objects (`hits`) a flag naming a
  JSON file that holds the list (`--hits HITS.json`).
- Settings (`serve`, `serve --ray`): from the pydantic settings models' fields and descriptions
  (`ServiceSettings`, `ScaleSettings`). A field `foo_s` (seconds) becomes `--foo`; a flag left
  out means "the setting's default or its `EXPOTION_*` environment variable".
"""

from __future__ import annotations

import argparse
import json
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from expotion_protocol.params import JobParams, ParamError, base_type, choices, item_type, rules

#: The job parameters `score` takes as flags (the adapter is a folder there, the range `--start/--end`).
SCORE_PARAMS = (
    "prompt",
    "auto_prompt",
    "seed",
    "variants",
    "top_k",
    "temperature",
    "guidance",
    "visual_guidance",
    "start",
    "end",
    "beat_lock",
    "hits",
)


def flag_name(field: str) -> str:
    """`idle_unload_s` -> `--idle-unload` (a seconds suffix is the unit, not part of the name)."""
    return "--" + field.removesuffix("_s").replace("_", "-")


def _bounds(rule: Any) -> str:
    parts = [
        f"{word} {int(value) if float(value).is_integer() else value}"
        for word, value in ((">=", rule.ge), (">", rule.gt), ("<=", rule.le), ("<", rule.lt))
        if value is not None
    ]
    return f" ({', '.join(parts)})" if parts else ""


def add_param_flags(parser: argparse.ArgumentParser, names: tuple[str, ...] = SCORE_PARAMS) -> None:
    """One flag per job parameter in `names`, typed, defaulted and documented by its rule."""
    declared = rules()
    for name in names:
        annotation, default, rule = declared[name]
        kind = base_type(annotation)
        if kind is bool:
            parser.add_argument(flag_name(name), dest=name, action="store_true", help=rule.doc)
        elif choices(annotation) is not None:
            parser.add_argument(flag_name(name), dest=name, choices=choices(annotation), default=default, help=rule.doc)
        elif item_type(annotation) is not None:
            parser.add_argument(
                flag_name(name),
                dest=name,
                type=Path,
                default=None,
                metavar=f"{name.upper()}.json",
                help=f"a JSON file with the list: {rule.doc}",
            )
        else:
            shown = "" if default in (None, "") else f"; default {default}"
            parser.add_argument(
                flag_name(name), dest=name, type=kind, default=default, help=f"{rule.doc}{_bounds(rule)}{shown}"
            )


def params_from_args(args: argparse.Namespace, names: tuple[str, ...] = SCORE_PARAMS, **fields: Any) -> JobParams:
    """The validated job parameters of the parsed flags (plus `fields`); `ParamError` naming the field
    (a list's JSON file is read here)."""
    declared = rules()
    values = {}
    for name in names:
        value = getattr(args, name)
        if item_type(declared[name][0]) is not None:
            value = () if value is None else _json_list(name, value)
        values[name] = value
    return JobParams(**values, **fields).validate()


def _json_list(name: str, path: Path) -> Any:
    """The JSON list in the file `path` given for the list parameter `name` (ParamError naming both)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise ParamError(f"{name}: cannot read {path} ({err.strerror or err})") from err
    except json.JSONDecodeError as err:
        raise ParamError(f"{name}: {path} is not valid JSON ({err.msg}, line {err.lineno})") from err
    if not isinstance(data, list):
        raise ParamError(f"{name}: {path} holds a JSON {type(data).__name__}, expected a list")
    return data


def add_settings_flags(
    parser: argparse._ActionsContainer,
    model: type[BaseModel],
    *,
    skip: tuple[str, ...] = (),
    names: dict[str, str] | None = None,
) -> dict[str, str]:
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
            parser.add_argument(
                flag,
                dest=dest,
                action="store_const",
                const=not default,
                default=None,
                help=f"{info.description}{shown}",
            )
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
