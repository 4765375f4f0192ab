"""`--device`: cuda, then Apple's mps, then cpu when none is named; a named device that is absent is a
clean error (exit 2 with a hint), before any model loads."""

from __future__ import annotations

import pytest
import torch

from generator_service.errors import ConfigError
from generator_service.model.loading import pick_device


def _machine(monkeypatch, *, cuda: bool, mps: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize(("cuda", "mps", "chosen"), [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda: bool, mps: bool, chosen: str) -> None:
    _machine(monkeypatch, cuda=cuda, mps=mps)
    assert pick_device(None) == chosen


def test_mps_asked_for_and_present_is_kept(monkeypatch) -> None:
    _machine(monkeypatch, cuda=False, mps=True)
    assert pick_device("mps") == "mps"


@pytest.mark.parametrize("device", ["mps", "cuda", "cuda:1"])
def test_an_absent_device_is_a_config_error_with_a_hint(monkeypatch, device: str) -> None:
    _machine(monkeypatch, cuda=False, mps=False)
    with pytest.raises(ConfigError, match=f"'{device}' asked for") as raised:
        pick_device(device)
    assert "--device cpu" in raised.value.hint


def test_cli_bench_with_mps_absent_exits_2_with_the_hint(monkeypatch, capsys) -> None:
    from generator_service.cli import main

    _machine(monkeypatch, cuda=False, mps=False)
    assert main(["bench", "generate", "--size", "tiny", "--seconds", "0.3", "--device", "mps", "--json"]) == 2
    err = capsys.readouterr().err
    assert "error: device: 'mps' asked for" in err and "hint:" in err and "Apple" in err


def test_auto_precision_on_mps_is_bf16_only_where_mps_computes_it(monkeypatch) -> None:
    from generator_service.model.precision import choice

    monkeypatch.setattr(choice, "_mps_runs_bf16", lambda device: True)
    assert choice.resolve_precision("auto", "mps") == "bf16"
    monkeypatch.setattr(choice, "_mps_runs_bf16", lambda device: False)
    assert choice.resolve_precision("auto", "mps") == "fp32"
    monkeypatch.undo()
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert choice._mps_runs_bf16("mps") is False  # no Apple GPU here: the probe is not even tried
