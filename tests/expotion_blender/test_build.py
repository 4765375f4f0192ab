"""build.py: the zip validates with Blender's own validator; a bad manifest fails with its message;
the extension imports only the standard library."""

from __future__ import annotations

import zipfile

import pytest

import build

pytestmark = pytest.mark.blender


def test_zip_contents(built_zip):
    names = zipfile.ZipFile(built_zip).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names and "operators/score_strips.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".whl")]
    assert built_zip.endswith("expotion-0.1.0.zip")


def test_bad_manifest_fails_with_validator_message(tmp_path, monkeypatch):
    try:
        validator = str(build.find_blender_ext(None))
    except build.BuildError as exc:
        pytest.skip(str(exc))
    bad = tmp_path / "blender_manifest.toml"
    bad.write_text(build.MANIFEST.read_text().replace(
        "network = \"Send strips to the Expotion music service and fetch its music\"", "network = \"Talks.\""))
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

