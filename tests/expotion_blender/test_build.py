"""build.py: the zip validates with Blender's own validator and bundles the protocol wheel; a bad
manifest fails with its message; the extension imports only the standard library, Blender's modules
and the bundled protocol."""

from __future__ import annotations

import zipfile

import pytest

import build

pytestmark = pytest.mark.blender


def test_zip_contents(built_zip):
    names = zipfile.ZipFile(built_zip).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names and "operators/score_strips.py" in names
    assert not [n for n in names if "__pycache__" in n]
    assert [n for n in names if n.endswith(".whl")] == [
        f"wheels/expotion_protocol-{build.protocol_version()}-py3-none-any.whl"
    ]
    assert built_zip.endswith("expotion-0.1.0.zip")


def test_the_protocol_wheel_is_the_protocol_package_and_reproducible(tmp_path):
    first = build.build_protocol_wheel(tmp_path / "a")
    second = build.build_protocol_wheel(tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()
    names = zipfile.ZipFile(first).namelist()
    sources = sorted(
        p.relative_to(build.PROTOCOL).as_posix()
        for p in (build.PROTOCOL / "expotion_protocol").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    assert sorted(n for n in names if n.startswith("expotion_protocol/")) == sources
    assert {n.rsplit("/", 1)[1] for n in names if ".dist-info/" in n} == {"METADATA", "WHEEL", "RECORD"}


def test_bad_manifest_fails_with_validator_message(tmp_path, monkeypatch):
    try:
        validator = str(build.find_blender_ext(None))
    except build.BuildError as exc:
        pytest.skip(str(exc))
    bad = tmp_path / "blender_manifest.toml"
    bad.write_text(
        build.MANIFEST.read_text().replace(
            'network = "Send strips to the Expotion music service and fetch its music"', 'network = "Talks."'
        )
    )
    monkeypatch.setattr(build, "MANIFEST", bad)
    monkeypatch.setattr(build, "ROOT", tmp_path)
    monkeypatch.setattr(build, "PACKAGE", build.Path(__file__).resolve().parents[2] / "expotion_blender")
    with pytest.raises(build.BuildError, match="must not end with punctuation"):
        build.build(None, validator, tmp_path / "dist")


def test_non_stdlib_import_is_refused(tmp_path):
    (tmp_path / "expotion").mkdir()
    (tmp_path / "expotion" / "x.py").write_text("import requests\nfrom . import y\nimport bpy, json\n")
    with pytest.raises(build.BuildError, match="import requests"):
        build.check_imports(tmp_path / "expotion")
