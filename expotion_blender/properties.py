"""Per-scene scoring settings shown in the sidebar (`scene.expotion`); registered and removed here.

No `from __future__ import annotations` in modules declaring bpy properties: Blender reads the
annotations as property definitions."""

import random

import bpy

from expotion_protocol.params import BEAT_LOCK_MODES, MAX_VARIANTS, JobParams

from . import runtime

#: The panel's beat-lock choices: "AUTO" (the service decides: both with a person, else hits) and the protocol's modes.
BEAT_LOCK_ITEMS = [("AUTO", "Auto", "Motion beats and hits when the clip shows a person, else hits only")] + [
    (mode.upper(), mode.capitalize(), text)
    for mode, text in zip(
        BEAT_LOCK_MODES,
        (
            "Leave the music as generated",
            "Move the music's beats onto the performer's motion beats",
            "Move the music's strongest onsets onto the cuts and markers",
            "Both: beats onto the motion, onsets onto the cuts and markers",
        ),
        strict=True,
    )
]


def _adapter_items(self: bpy.types.PropertyGroup, context: bpy.types.Context) -> list[tuple[str, str, str]]:
    return runtime.adapter_items()


class ExpotionSceneSettings(bpy.types.PropertyGroup):
    prompt: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Prompt", default="", description="Text describing the music; 'Suggest from video' fills it from the strip"
    )
    analysis: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Analysis", default="", description="Summary of the last video analysis"
    )
    seed_mode: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Seed",
        items=(
            ("RANDOM", "Random", "A new seed for every job"),
            ("FIXED", "Fixed", "Use the seed below (reproducible)"),
        ),
        default="RANDOM",
    )
    seed: bpy.props.IntProperty(name="Seed", default=0, min=0, max=2**31 - 1)  # type: ignore[valid-type]
    takes: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Takes",
        default=1,
        min=1,
        max=MAX_VARIANTS,
        description="Variants per strip: the first plays, the others wait in the Takes panel to be auditioned",
    )
    guidance: bpy.props.FloatProperty(  # type: ignore[valid-type]
        name="Guidance", default=3.0, min=0.0, max=15.0, description="Classifier-free guidance on the text"
    )
    visual_guidance: bpy.props.FloatProperty(  # type: ignore[valid-type]
        name="Visual Guidance",
        default=1.0,
        min=1.0,
        max=10.0,
        description="Classifier-free guidance on the video (needs an adapter; 1 = off): higher follows the "
        "performer more closely, at the cost of a second conditioned pass",
    )
    adapter: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Adapter",
        items=_adapter_items,
        description="Expotion adapter to condition on the video (none = the base model, zero-shot)",
    )
    beat_lock: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Beat Lock",
        items=BEAT_LOCK_ITEMS,
        default="AUTO",
        description="Time-warp the generated music (at most +-8 %, exact length kept) so it follows the picture",
    )
    marker_hits: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Markers as Hits",
        default=True,
        description="Send the timeline markers over the scored range as hit points the music accents "
        "(cuts are always sent when scoring the timeline)",
    )


def params_from(settings: ExpotionSceneSettings) -> JobParams:
    """Job parameters from the scene settings (range fields are filled per strip later)."""
    seed = settings.seed if settings.seed_mode == "FIXED" else random.randrange(2**31)
    adapter = settings.adapter if settings.adapter not in ("", "NONE") else None
    return JobParams(
        prompt=settings.prompt.strip(),
        auto_prompt=not settings.prompt.strip(),
        seed=seed,
        variants=settings.takes,
        guidance=settings.guidance,
        adapter=adapter,
        visual_guidance=settings.visual_guidance if adapter else 1.0,
        beat_lock=lock_mode(settings.beat_lock),
    )


def lock_mode(choice: str) -> str | None:
    """The panel's beat-lock choice -> the job parameter ("AUTO" -> None: the service decides)."""
    return None if choice in ("", "AUTO") else choice.lower()


def register() -> None:
    bpy.types.Scene.expotion = bpy.props.PointerProperty(type=ExpotionSceneSettings)


def unregister() -> None:
    del bpy.types.Scene.expotion


classes = (ExpotionSceneSettings,)
