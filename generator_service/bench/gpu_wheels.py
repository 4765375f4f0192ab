"""The locked packages the offline GPU check needs, for another machine's Python (`make gpu-wheels`).

`bench/gpu.sh` runs on a lent GPU machine that has a CUDA torch and no network; it installs from a
folder of wheels carried beside the project. This module picks those packages from
`requirements.lock`: the closure of `ROOTS` along the lock's own `# via` annotations, markers
evaluated for the target Python, torch and its CUDA libraries left out (the machine has its own), and
writes them as a hashed requirements file for `pip download` (here) and `pip install` (there).

Run: `python -m generator_service.bench.gpu_wheels requirements.lock --python-version 3.12 -o OUT.txt`.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..console import note

#: what the GPU check imports: the model stack (generation, EnCodec, the adapter, LoRA), pytest for the
#: `-m gpu` tests, and setuptools/wheel to install the project itself (editable, no build isolation).
ROOTS = ("transformers", "peft", "tokenizers", "safetensors", "numpy", "tqdm", "pytest", "setuptools", "wheel")

#: per-machine packages: the GPU machine brings its own torch with its CUDA libraries.
MACHINE_OWN = re.compile(r"^(torch|triton|cuda-[a-z-]+|nvidia-[a-z0-9-]+)$")

_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?:\s*;\s*(.*?))?\s*\\?$")


@dataclass
class Entry:
    """One pinned package of the lock: its requirement lines and the packages it is there for."""

    name: str
    version: str
    marker: str | None
    hashes: list[str] = field(default_factory=list)
    via: set[str] = field(default_factory=set)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_lock(text: str) -> list[Entry]:
    """uv's `pip compile --generate-hashes` output -> its entries (one per name and marker)."""
    entries: list[Entry] = []
    in_via = False
    for line in text.splitlines():
        stripped = line.strip()
        match = _ENTRY.match(line)
        if match:
            name, version, marker = match.groups()
            entries.append(Entry(canonical(name), version, marker))
            in_via = False
        elif not entries or not stripped:
            continue
        elif stripped.startswith("--hash="):
            entries[-1].hashes.append(stripped.rstrip(" \\"))
        elif stripped.startswith("# via"):
            rest = stripped.removeprefix("# via").strip()
            in_via = not rest
            if rest:
                entries[-1].via.add(canonical(rest.split()[0]))
        elif in_via and stripped.startswith("#"):
            entries[-1].via.add(canonical(stripped.lstrip("# ").split()[0]))
    return entries


def applies(marker: str | None, python_version: str, platform: str = "linux") -> bool:
    """Whether a marker holds on the target machine (CPython `python_version` on `platform`, x86_64)."""
    if not marker:
        return True
    from packaging.markers import Marker

    env = {
        "python_version": python_version,
        "python_full_version": f"{python_version}.0",
        "sys_platform": platform,
        "platform_system": {"linux": "Linux", "darwin": "Darwin", "win32": "Windows"}[platform],
        "platform_machine": "x86_64",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "os_name": "nt" if platform == "win32" else "posix",
    }
    return Marker(marker).evaluate(env)


def needed(entries: list[Entry], python_version: str, roots: tuple[str, ...] = ROOTS) -> list[Entry]:
    """The entries for the target Python that `roots` need, by the lock's `# via`, without torch's own."""
    live = [e for e in entries if applies(e.marker, python_version) and not MACHINE_OWN.match(e.name)]
    want = {canonical(r) for r in roots}
    missing = want - {e.name for e in live}
    if missing:
        raise SystemExit(f"error: the lock has no entry for {', '.join(sorted(missing))} on Python {python_version}")
    grew = True
    while grew:
        grew = False
        for entry in live:
            if entry.name not in want and entry.via & want:
                want.add(entry.name)
                grew = True
    return [e for e in live if e.name in want]


def requirements(entries: list[Entry]) -> str:
    """Hashed requirement lines, markers already decided (for `pip download/install --require-hashes`)."""
    return "".join(f"{e.name}=={e.version} " + " ".join(e.hashes) + "\n" for e in entries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lock", type=Path)
    parser.add_argument("--python-version", default="3.12", help="the GPU machine's Python (default 3.12)")
    parser.add_argument("-o", "--out", type=Path, required=True, help="the hashed requirements file to write")
    args = parser.parse_args(argv)
    chosen = needed(parse_lock(args.lock.read_text()), args.python_version)
    args.out.write_text(requirements(chosen))
    note(f"{len(chosen)} locked packages for Python {args.python_version} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
