"""The sidebar panels and the add-on preferences drawn inside real Blender in every state, each call checked against Blender's
own UILayout RNA (bpy has no window, so a checking stand-in layout records what would be drawn)."""

from __future__ import annotations


def texts(calls: list[list[str]]) -> str:
    return "\n".join(text for _, text in calls)


def test_panels_draw_every_state_with_real_api(run_blender, stub, clips):
    out = run_blender("panels", stub.url, clips=clips)
    drawn = out["drawn"]
    assert [c[0] for c in out["preferences"]].count("prop") == 7
    assert out["visual_guidance"] == [3.0, 1.0]  # sent with an adapter, off without one
    assert len(drawn) == 4 * 2 * 2
    assert "Checking" in texts(drawn["checking/none/RANDOM"])
    healthy = texts(drawn["healthy/none/FIXED"])
    assert "Service 9.9 on cpu, queue 2" in healthy and "Untrained" in healthy and "Model: tiny" in healthy
    assert "motion 120 bpm" in healthy
    assert "service down" in texts(drawn["down/none/RANDOM"])
    assert "No jobs yet" in texts(drawn["unknown/none/RANDOM"])
    mixed = texts(drawn["unknown/mixed/RANDOM"])
    assert "A: generate, 12 s left" in mixed and "pick a clip" in mixed and "Cancel All" in mixed
    assert ["prop", ""] in drawn["unknown/none/FIXED"]  # the fixed seed field appears only in FIXED mode
    assert sum(c[0] == "prop" for c in drawn["unknown/none/FIXED"]) == \
        sum(c[0] == "prop" for c in drawn["unknown/none/RANDOM"]) + 1
