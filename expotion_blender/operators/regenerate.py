"""`expotion.regenerate`: generate a music strip's music again — as it was (its stored prompt,
guidance, adapter, beat lock; same or new seed) or with the panel's current settings — and swap the
new take in (the older takes stay in the Takes panel). Music of a timeline range is made again for
that range (its cuts and markers as they are now). Music that replaced a temp track follows the
temp's melody again (the temp as it sits now)."""

import random
from typing import Any

import bpy

from expotion_protocol.errors import ExpotionError
from expotion_protocol.params import JobParams

from .. import properties, runtime, scoring, takes, temp_track, timeline, vse
from ..snapshot import StripError
from . import dispatch


def scored_strips(scene: bpy.types.Scene) -> list[Any]:
    return [s for s in vse.selected_strips(scene) if takes.is_music(s)]


def params_from_metadata(meta: Any, new_seed: bool) -> JobParams:
    seed = random.randrange(2**31) if new_seed else int(meta.get("seed", 0))
    return JobParams(
        prompt=str(meta.get("prompt", "")),
        auto_prompt=bool(meta.get("auto_prompt", False)),
        seed=seed,
        variants=1,
        guidance=float(meta.get("guidance", 3.0)),
        visual_guidance=float(meta.get("visual_guidance", 1.0)),
        adapter=str(meta.get("adapter", "")) or None,
        beat_lock=properties.lock_mode(str(meta.get("lock_mode", "auto")).upper()),
    )


def stored_span(sound: Any) -> timeline.Span | None:
    """The timeline range a music strip was made for (None: it was made for a video strip)."""
    frames = sound[vse.META_PROP].get("timeline")
    return timeline.Span(int(frames[0]), int(frames[1]), "stored") if frames else None


def video_of(scene: bpy.types.Scene, sound: Any) -> Any:
    meta = sound[vse.META_PROP]
    video = vse.find_strip(scene, meta.get("source_key", ""), meta.get("source_name", ""))
    if video is None:
        raise StripError(
            f"the video strip '{meta.get('source_name')}' of '{sound.name}' is gone",
            "Score the video strip again instead.",
        )
    return video


class EXPOTION_OT_regenerate(dispatch.ScoringOperator, bpy.types.Operator):
    """Make the selected Expotion music again and swap the new take in (older takes are kept)"""

    bl_idname = "expotion.regenerate"
    bl_label = "Regenerate"

    new_seed: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="New Seed", default=True, description="Use a new random seed (off: reproduce with the stored seed)"
    )
    use_panel: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Panel Settings",
        default=False,
        description="Use the panel's prompt, seed, takes, guidance and adapter, not those the music was made with",
    )

    @classmethod
    def description(cls, context: bpy.types.Context, properties: Any) -> str:
        if properties.use_panel:
            return "Generate the selected Expotion music again with the panel's current settings"
        return "Generate the selected Expotion music again as it was made (same prompt and settings)"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if context.scene is None or not scored_strips(context.scene):
            cls.poll_message_set("Select a sound strip made by Expotion")
            return False
        scene = context.scene
        videos = [
            vse.find_strip(scene, s[vse.META_PROP].get("source_key", ""), s[vse.META_PROP].get("source_name", ""))
            for s in scored_strips(scene)
        ]
        reason = dispatch.score_refusal(context, [v for v in videos if v is not None])
        spans = [span for span in map(stored_span, scored_strips(scene)) if span is not None]
        if not reason and any(span.key(scene) in runtime.busy_strip_keys() for span in spans):
            reason = "Expotion is already scoring this range: wait for it or cancel it"
        return dispatch.refuse(cls, reason)

    def params(self, scene: bpy.types.Scene, meta: Any) -> JobParams:
        if self.use_panel:
            return properties.params_from(scene.expotion)
        return params_from_metadata(meta, self.new_seed)

    def item(self, scene: bpy.types.Scene, sound: Any) -> scoring.Item:
        meta, span = sound[vse.META_PROP], stored_span(sound)
        key = str(meta.get("key", ""))
        temp = temp_track.of_music(takes.meta(sound))  # music that replaced a temp follows it again
        if span is not None:
            return scoring.Item(scene, None, self.params(scene, meta), replace_key=key, span=span, temp=temp)
        return scoring.Item(scene, video_of(scene, sound), self.params(scene, meta), replace_key=key, temp=temp)

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        try:
            items = [self.item(scene, s) for s in scored_strips(scene)]
        except ExpotionError as exc:
            self.report({"ERROR"}, exc.user_text())
            return {"CANCELLED"}
        return self.score(context, items)
