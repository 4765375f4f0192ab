#!/usr/bin/env python3
"""Build the Blender extension: stage -> check imports -> validate with Blender's own validator -> zip.

    python build.py [--blender /path/to/blender] [--blender-ext /path/to/blender_ext.py] [--out dist]

Builds the protocol package `wheels/expotion_protocol` (the service's and the extension's shared
shapes and rules, standard library only) into `wheels/expotion_protocol-<ver>-py3-none-any.whl` —
the one wheel the manifest's `wheels` list names —, stages `expotion_blender/` with
`blender_manifest.toml` and that wheel under `build/extension/`, refuses any import beyond the
standard library, Blender's modules, the package itself and the bundled protocol, then runs
Blender's validator and builder: `blender --command extension ...` when `--blender` is given,
else the standalone `blender_ext.py` shipped inside the `bpy` wheel (found in this interpreter,
`.venv-blender`, or `$EXPOTION_BLENDER_EXT`), run with this Python. Writes `dist/expotion-<ver>.zip`.
A bad manifest fails the build with the validator's own message. Standard library only.
"""

from __future__ import annotations

import argparse
import ast
import base64
import glob
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PACKAGE = ROOT / "expotion_blender"
MANIFEST = ROOT / "blender_manifest.toml"
VALIDATOR_REL = "scripts/addons_core/bl_pkg/cli/blender_ext.py"
ALLOWED_THIRD_PARTY = {"bpy", "bl_math", "blf", "gpu", "mathutils", "bmesh", "aud", "idprop", "bl_ui"}
PROTOCOL = ROOT / "wheels" / "expotion_protocol"
#: Packages the extension may import because it bundles them as wheels.
BUNDLED = {"expotion_protocol"}


class BuildError(Exception):
    """The build cannot go on; the message says why."""


def find_blender_ext(explicit: str | None) -> Path:
    """Locate Blender's standalone `blender_ext.py` without importing bpy."""
    candidates: list[str] = [p for p in (explicit, os.environ.get("EXPOTION_BLENDER_EXT")) if p]
    spec = importlib.util.find_spec("bpy")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            candidates += sorted(glob.glob(os.path.join(loc, "*", VALIDATOR_REL)), reverse=True)
    candidates += sorted(
        glob.glob(str(ROOT / ".venv-blender/lib/python3*/site-packages/bpy/*" / Path(VALIDATOR_REL))), reverse=True
    )
    for candidate in candidates:
        if os.path.isfile(candidate):
            return Path(candidate)
    raise BuildError(
        "Blender's validator blender_ext.py was not found: install `bpy==5.0.1` (pip) in this "
        "interpreter or .venv-blender, or pass --blender / --blender-ext"
    )


def protocol_version() -> str:
    project = tomllib.loads((PROTOCOL / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return str(project["version"])


def build_protocol_wheel(out_dir: Path) -> Path:
    """A pure-Python wheel of `wheels/expotion_protocol` (standard library only, byte-for-byte
    reproducible: fixed timestamps and order), written to `out_dir`."""
    version = protocol_version()
    dist = f"expotion_protocol-{version}"
    files = sorted(
        p
        for p in (PROTOCOL / "expotion_protocol").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )
    entries = [
        (f"expotion_protocol/{p.relative_to(PROTOCOL / 'expotion_protocol').as_posix()}", p.read_bytes()) for p in files
    ]
    entries.append(
        (
            f"{dist}.dist-info/METADATA",
            (
                f"Metadata-Version: 2.1\nName: expotion-protocol\n"
                f"Version: {version}\nRequires-Python: >=3.11\n"
                "License: GPL-3.0-or-later\n"
            ).encode(),
        )
    )
    entries.append(
        (
            f"{dist}.dist-info/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: expotion build.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
    )
    record = [f"{name},sha256={_digest(data)},{len(data)}" for name, data in entries]
    record.append(f"{dist}.dist-info/RECORD,,")
    entries.append((f"{dist}.dist-info/RECORD", ("\n".join(record) + "\n").encode()))
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            wheel.writestr(info, data, zipfile.ZIP_DEFLATED)
    return target


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def stage(dest: Path, wheel: Path) -> Path:
    """Copy the package, the manifest and the protocol wheel into `dest/expotion` (the zip's root)."""
    root = dest / "expotion"
    if dest.exists():
        shutil.rmtree(dest)
    # scripts/: bpy scripts of the demo and the bench, run with a bpy interpreter; not part of the extension
    shutil.copytree(PACKAGE, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*", "scripts"))
    shutil.copy2(MANIFEST, root / "blender_manifest.toml")
    (root / "wheels").mkdir()
    shutil.copy2(wheel, root / "wheels" / wheel.name)
    return root


def check_imports(root: Path) -> None:
    """The extension must import only the standard library, Blender's modules and itself."""
    bad = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names | ALLOWED_THIRD_PARTY | BUNDLED | {"__future__"}:
                    bad.append(f"{path.relative_to(root)}: import {name}")
    if bad:
        raise BuildError(
            "the extension may import only the standard library, Blender's modules and the bundled "
            "protocol:\n  " + "\n  ".join(bad)
        )


def check_wheels(manifest: dict, wheel: Path) -> None:
    """The manifest bundles exactly the protocol wheel this build makes."""
    expected = [f"./wheels/{wheel.name}"]
    if manifest.get("wheels") != expected:
        raise BuildError(
            f"blender_manifest.toml must list wheels = {expected} (found {manifest.get('wheels')}); "
            "the protocol's version is in wheels/expotion_protocol/pyproject.toml"
        )


def blender_cmd(blender: str | None, validator: Path | None, *args: str) -> list[str]:
    if blender:
        return [blender, "--factory-startup", "--command", "extension", *args]
    return [sys.executable, str(validator), *args]


def run_tool(cmd: list[str], what: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        raise BuildError(f"{what} failed:\n{output}")
    return output


def build(blender: str | None, blender_ext: str | None, out_dir: Path) -> Path:
    manifest = tomllib.loads(MANIFEST.read_text(encoding="utf-8"))
    wheel = build_protocol_wheel(ROOT / "wheels")
    check_wheels(manifest, wheel)
    root = stage(ROOT / "build" / "extension", wheel)
    check_imports(root)
    validator = None if blender else find_blender_ext(blender_ext)
    run_tool(blender_cmd(blender, validator, "validate", str(root)), "validation")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{manifest['id']}-{manifest['version']}.zip"
    if target.exists():
        target.unlink()
    run_tool(
        blender_cmd(blender, validator, "build", "--source-dir", str(root), "--output-filepath", str(target)), "build"
    )
    if not target.is_file():
        raise BuildError(f"the builder reported success but {target} is missing")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blender", help="a Blender binary (4.2+) to validate and build with")
    parser.add_argument("--blender-ext", help="path to Blender's blender_ext.py")
    parser.add_argument("--out", default=str(ROOT / "dist"), help="output folder (default: dist/)")
    args = parser.parse_args(argv)
    try:
        target = build(args.blender, args.blender_ext, Path(args.out))
    except BuildError as exc:
        sys.stderr.write(f"build.py: {exc}\n")
        return 1
    sys.stdout.write(f"{target}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
