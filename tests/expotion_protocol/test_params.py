"""The job parameters' one set of rules (expotion_protocol/params.py)."""

from __future__ import annotations

import math

import pytest

from expotion_protocol.params import MAX_HITS, MAX_VARIANTS, HitPoint, JobParams, ParamError, field_types, rules


def test_defaults_are_valid_and_round_trip() -> None:
    params = JobParams().validate()
    assert JobParams.from_json(params.to_json()) == params
    assert "visual_guidance" not in params.to_json()  # off: left out for older services


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"variants": 0}, "variants"),
        ({"variants": MAX_VARIANTS + 1}, "variants"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**31}, "seed"),
        ({"start": -0.1}, "start"),
        ({"end": 0.0}, "end"),
        ({"temperature": 0.0}, "temperature"),
        ({"guidance": 51.0}, "guidance"),
        ({"top_k": 0}, "top_k"),
        ({"prompt": "x" * 2001}, "prompt"),
        ({"start": 2.0, "end": 1.0}, "end"),
        ({"start": 1.0, "end": 2.0, "duration": 3.0}, "duration"),
        ({"visual_guidance": 3.0}, "visual_guidance"),
        ({"temperature": math.nan}, "temperature"),
        ({"seed": 1.5}, "seed"),
        ({"seed": True}, "seed"),
        ({"prompt": 3}, "prompt"),
        ({"variants": None}, "variants"),
        ({"beat_lock": "beats"}, "beat_lock"),
        ({"beat_lock": 1}, "beat_lock"),
        ({"hits": "cut"}, "hits"),
        ({"hits": None}, "hits"),
        ({"hits": [{"t": 1.0, "kind": "cut"}] * (MAX_HITS + 1)}, "hits"),
        ({"hits": [3]}, "hits[0]"),
        ({"hits": [{"t": 1.0}]}, "hits[0]"),
        ({"hits": [{"t": 1, "kind": "cut", "x": 1}]}, "hits[0]"),
        ({"hits": [{"t": 1.0, "kind": "cut"}, {"t": -1.0, "kind": "cut"}]}, "hits[1].t"),
        ({"hits": [{"t": 1.0, "kind": "fade"}]}, "hits[0].kind"),
        ({"hits": [{"t": 1.0, "kind": "cut", "strength": 1.5}]}, "hits[0].strength"),
        ({"hits": [{"t": math.inf, "kind": "marker"}]}, "hits[0].t"),
        ({"melody_start": -1.0}, "melody_start"),
        ({"melody_start": math.nan}, "melody_start"),
        ({"melody_path": 3}, "melody_path"),
        ({"melody_path": "x" * 4097}, "melody_path"),
    ],
)
def test_each_rule_names_its_field(fields: dict, named: str) -> None:
    with pytest.raises(ParamError) as caught:
        JobParams(**fields).validate()
    assert caught.value.message.startswith(f"{named}:"), caught.value.message


def test_numbers_where_floats_are_expected_and_visual_guidance_with_an_adapter() -> None:
    params = JobParams(start=1, end=3, duration=2, visual_guidance=2.5, adapter="mine").validate()
    assert params.resolved_end() == 3 and params.visual_guidance_scale == 2.5
    assert JobParams(guidance=0.5).guidance_scale == 1.0  # <= 1 means none, the same everywhere


def test_unknown_and_non_object_json_is_refused() -> None:
    with pytest.raises(ParamError, match="nope: unknown parameter"):
        JobParams.from_json({"nope": 1})
    with pytest.raises(ParamError, match="expected a JSON object"):
        JobParams.from_json([1])


def test_every_field_has_a_rule_with_documentation() -> None:
    assert list(rules()) == list(field_types())
    assert all(rule.doc for _, _, rule in rules().values())


def test_beat_lock_and_hits_round_trip_and_are_left_out_when_unset() -> None:
    params = JobParams.from_json(
        {"beat_lock": "hits", "hits": [{"t": 1, "kind": "cut"}, {"t": 2.5, "kind": "marker", "strength": 0.5}]}
    )
    assert params.hits == (HitPoint(1, "cut"), HitPoint(2.5, "marker", 0.5))
    data = params.to_json()
    assert data["hits"] == [{"t": 1, "kind": "cut", "strength": 1.0}, {"t": 2.5, "kind": "marker", "strength": 0.5}]
    assert JobParams.from_json(data) == params and not params.reads_motion
    unset = JobParams().to_json()
    assert "beat_lock" not in unset and "hits" not in unset  # automatic / none: older services accept the request
    assert JobParams().reads_motion and JobParams(beat_lock="both").reads_motion
    assert not JobParams(beat_lock="off").reads_motion


def test_list_items_declare_their_rules_the_same_way() -> None:
    assert list(rules(HitPoint)) == ["t", "kind", "strength"]
    assert all(rule.doc for _, _, rule in rules(HitPoint).values())


def test_melody_fields_round_trip_and_are_left_out_when_unset() -> None:
    params = JobParams.from_json({"melody_path": "temp/score.wav", "melody_start": 12.5})
    data = params.to_json()
    assert (data["melody_path"], data["melody_start"]) == ("temp/score.wav", 12.5)
    assert JobParams.from_json(data) == params
    unset = JobParams().to_json()
    assert "melody_path" not in unset and "melody_start" not in unset  # older services accept the request
