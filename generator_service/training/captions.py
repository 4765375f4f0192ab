"""Captions of training recordings: a CSV (`file,caption`) or JSONL (`{"file", "caption"}`) file,
matched to recordings by relative path or name, with a default prompt for the rest."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .dataset_files import DatasetError

logger = logging.getLogger(__name__)


def _normalise_key(name: str) -> str:
    key = name.strip().replace("\\", "/")
    while key.startswith("./"):
        key = key[2:]
    return key


def read_captions(path: Path) -> dict[str, str]:
    """Captions from a CSV (header with columns file,caption) or a JSONL ({"file", "caption"} per
    line) -> {file: caption}; `file` is a path relative to the source folder or a file name."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"caption file {path} does not exist")
    rows = _read_jsonl_captions(path) if path.suffix.lower() in (".jsonl", ".ndjson") else _read_csv_captions(path)
    captions: dict[str, str] = {}
    for where, name, caption in rows:
        key = _normalise_key(name)
        if not key:
            raise DatasetError(f"{path}:{where}: empty file name")
        if key in captions and captions[key] != caption:
            logger.warning("%s:%s: second caption for %s replaces the first", path, where, key)
        captions[key] = caption.strip()
    return captions


def _read_csv_captions(path: Path) -> Iterator[tuple[int, str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in reader.fieldnames or []]
        if "file" not in columns or "caption" not in columns:
            raise DatasetError(f"caption file {path}: needs columns 'file' and 'caption', has {columns}")
        reader.fieldnames = columns
        rows = list(reader)
    for line, row in enumerate(rows, start=2):
        yield line, row.get("file") or "", row.get("caption") or ""


def _read_jsonl_captions(path: Path) -> Iterator[tuple[int, str, str]]:
    for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as err:
            raise DatasetError(f"{path}:{line}: not valid JSON ({err.msg})") from err
        if not isinstance(row, dict) or not isinstance(row.get("file"), str) or not isinstance(row.get("caption"), str):
            raise DatasetError(f'{path}:{line}: expected an object with string fields "file" and "caption"')
        yield line, row["file"], row["caption"]


@dataclass
class Captions:
    """Caption lookup by relative path, then by file name; remembers which entries were used."""

    entries: dict[str, str]
    default: str = ""
    used: set[str] = field(default_factory=set)

    def lookup(self, recording: str) -> str:
        for key in (recording, PurePosixPath(recording).name):
            if key in self.entries:
                self.used.add(key)
                return self.entries[key]
        return self.default

    def unused(self) -> list[str]:
        return sorted(set(self.entries) - self.used)
