"""The sidebar panels and the add-on preferences drawn inside real Blender in every state, each call
checked against Blender's own UILayout RNA (bpy has no window, so a checking stand-in layout records
what would be drawn)."""

from __future__ import annotations


def texts(calls: list[list[str]]) -> str:
    return "\n".join(c[1] for c in calls)


def labels_with(calls: list[list[str]], icon: str) -> str:
    return "\n".join(c[1] for c in calls if c[0] == "label" and c[2] == icon)


def operators(calls: list[list[str]]) -> list[str]:
    """Operator buttons: their text, else the operator's id."""
    return [c[1] or c[3] for c in calls if c[0] == "operator"]


def test_panels_draw_every_state_with_real_api(run_blender, stub, clips):
    out = run_blender("panels", stub.url, clips=clips)
    drawn = out["drawn"]
    assert [c[0] for c in out["preferences"]].count("prop") == 9
    assert out["visual_guidance"] == [3.0, 1.0]  # sent with an adapter, off without one
    assert len(drawn) == 6 * 2 * 2
    assert "Checking" in texts(drawn["checking/none/RANDOM"])
    healthy = texts(drawn["healthy/none/FIXED"])
    assert "Service 9.9 on cpu, queue 2" in healthy and "Untrained" in healthy and "Model: tiny" in healthy
    assert "motion 120 bpm" in healthy
    assert "CC-BY-NC" not in healthy  # the random tiny model has no such licence
    real = drawn["real/none/RANDOM"]
    assert "CC-BY-NC" in texts(real) and "first job downloads" in labels_with(real, "INFO")
    assert "weights not in the local cache" in labels_with(drawn["not_ready/none/RANDOM"], "ERROR")
    assert "service down" in texts(drawn["down/none/RANDOM"])
    assert "No jobs yet" in texts(drawn["unknown/none/RANDOM"])
    mixed = drawn["unknown/mixed/RANDOM"]
    text = texts(mixed)
    assert "A: generate, 12 s left" in text and "B: rendering proxy 3/75" in text and "Cancel All" in text
    assert "G: downloading the model, 500 of 2000 MB" in text
    assert "Fix the file path" in labels_with(mixed, "INFO")
    # long errors are wrapped: every line fits, and the whole message is there
    assert all(len(c[1]) <= out["width"] for c in mixed if c[0] == "label")
    assert "take_0042_final_final.mp4 does not exist" in " ".join(c[1] for c in mixed if c[0] == "label")
    assert "Prompt: warm piano, 120 bpm, energetic" in text and "D: music placed (2 takes)" in text
    assert "No person was found" in labels_with(mixed, "ERROR")  # a warning on a job that succeeded
    assert "expotion.clear_jobs" in operators(mixed)
    assert "expotion.clear_jobs" not in operators(drawn["unknown/none/RANDOM"])
    assert "expotion.open_audio_folder" in operators(mixed) and "Score All" in operators(mixed)
    assert "expotion.score_timeline" in operators(mixed)
    assert ["Regenerate", "With Panel Settings"] == [t for t in operators(mixed) if "Regenerate" in t or "Panel" in t]
    assert ["prop", "", "", ""] in drawn["unknown/none/FIXED"]  # the fixed seed field appears only in FIXED mode
    assert (
        sum(c[0] == "prop" for c in drawn["unknown/none/FIXED"])
        == sum(c[0] == "prop" for c in drawn["unknown/none/RANDOM"]) + 1
    )
    # the Takes panel, for an active music strip (FIXED rows): both takes, newest first, their facts
    takes = texts(drawn["unknown/none/FIXED"])
    assert "A music: 2 take(s)" in takes and "Take 2: seed" in takes and "Take 1: seed" in takes
    assert "(plays)" in takes and "precision fp32" in takes and "beat lock both" in takes
    assert "Beat lock: stub lock" in takes  # the take's lock report
    assert "model stub/tiny" in takes and "UNTRAINED" in takes
    assert "A music" not in texts(drawn["unknown/none/RANDOM"])  # a movie strip is active: no Takes panel
    assert operators(out["auditioning"]).count("Keep") == 1 and "Stop" in operators(out["auditioning"])
    assert "Auditioning solo" in texts(out["auditioning"])
    # the service Blender starts: Start while nothing answers, Stop while it runs, its log once started;
    # nothing to start for a service on another machine
    process = out["process"]
    assert operators(process["none"]) == ["expotion.check_service", "expotion.start_service"]
    assert "Starting the service..." in texts(process["starting"])
    assert operators(process["starting"])[1:] == ["Stop Service", "Log"]
    assert operators(process["running"])[1:] == ["Stop Service", "Log"] and "Service 9.9" in texts(process["running"])
    assert operators(process["stopping"])[1:] == ["Stopping...", "Log"]
    assert operators(process["exited"])[1:] == ["expotion.start_service", "Log"]
    assert "service down" in texts(process["exited"])
    assert operators(process["remote"]) == ["expotion.check_service"]
