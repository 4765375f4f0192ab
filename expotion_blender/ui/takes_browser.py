"""Sub-panel "Takes" for the active Expotion music strip: every take and regeneration with its
prompt, seed, model and what the service reported (precision, beat lock); solo to audition, use,
remove; regenerate as it was or with the panel's settings."""

from __future__ import annotations

import datetime
from typing import Any

import bpy

from .. import takes, temp_track
from .panel import draw_regenerate
from .text import wrapped


def facts(take: dict[str, Any]) -> str:
    """Model, adapter, guidance and what the service reported (precision, beat lock...)."""
    parts = [f"model {take.get('model') or '?'}"]
    if take.get("adapter"):
        parts.append(f"adapter {take['adapter']}")
    parts.append(f"guidance {float(take.get('guidance', 0)):g}")
    if float(take.get("visual_guidance", 1.0)) > 1:
        parts.append(f"visual {float(take['visual_guidance']):g}")
    details = take.get("details") or {}
    parts += [f"{k.replace('_', ' ')} {v}" for k, v in sorted(details.items()) if k != "note"]
    if take.get("visual") == "null":
        parts.append("no person found")
    if take.get("untrained"):
        parts.append("UNTRAINED test model")
    return ", ".join(parts)


def melody_line(melody: dict[str, Any]) -> str:
    """How closely a take follows the temp's melody, as the service measured it on the take."""
    measured = melody.get("take") or melody
    if "chroma_similarity" not in measured:
        return "Temp melody: not measured"
    verdict = "follows" if measured.get("follows") else "does not follow"
    return (
        f"Temp melody: {verdict} it (chroma similarity {float(measured['chroma_similarity']):.2f}, "
        f"chance {float(measured.get('chance', 0.0)):.2f})"
    )


def draw_temp(layout: bpy.types.UILayout, scene: bpy.types.Scene, strip: Any) -> None:
    """The temp track this music replaced, muted or playing, with the A/B switch."""
    temp = temp_track.of_music(takes.meta(strip))
    if temp is None:
        return
    found = temp_track.find(scene, temp)
    row = layout.box().row(align=True)
    if found is None:
        row.label(text=f"Temp track '{temp.name}': no longer in the edit", icon="ERROR")
        return
    row.label(text=f"Temp track '{found.name}'" + (" (muted)" if found.mute else " (plays)"), icon="FILE_SOUND")
    row.operator("expotion.temp_ab", text="Hear Temp", depress=not found.mute).temp_plays = True
    row.operator("expotion.temp_ab", text="Hear Music", depress=not strip.mute).temp_plays = False


def title(number: int, take: dict[str, Any]) -> str:
    when = take.get("created")
    stamp = datetime.datetime.fromtimestamp(float(when)).strftime(" %H:%M") if when else ""
    return f"Take {number}: seed {take.get('seed', '?')}{stamp}"


def draw_take(
    layout: bpy.types.UILayout,
    context: bpy.types.Context,
    number: int,
    take: dict[str, Any],
    current: bool,
    auditioned: bool,
) -> None:
    box = layout.box()
    row = box.row(align=True)
    row.label(text=title(number, take) + (" (plays)" if current else ""), icon="CHECKMARK" if current else "SOUND")
    take_id = str(take.get("take_id", ""))
    row.operator("expotion.take_audition", text="", icon="SOLO_ON" if auditioned else "SOLO_OFF").take_id = take_id
    sub = row.row(align=True)
    sub.enabled = not current or auditioned
    sub.operator("expotion.take_swap", text="Use").take_id = take_id
    sub = row.row(align=True)
    sub.enabled = not current
    sub.operator("expotion.take_delete", text="", icon="TRASH").take_id = take_id
    prompt = take.get("prompt_used") or take.get("prompt") or "(no prompt)"
    wrapped(box, context, f"Prompt: {prompt}")
    wrapped(box, context, facts(take))
    if take.get("melody"):
        wrapped(box, context, melody_line(take["melody"]))
    lock, hits = take.get("lock") or {}, take.get("hits") or []
    if lock.get("reason"):
        wrapped(box, context, f"Beat lock: {lock['reason']}" + (f" ({len(hits)} hit points)" if hits else ""))


class SEQUENCER_PT_expotion_takes(bpy.types.Panel):
    bl_label = "Takes"
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Expotion"
    bl_parent_id = "SEQUENCER_PT_expotion"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return takes.active_music(context.scene) is not None

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        strip = takes.active_music(context.scene)
        if strip is None:
            return
        audition = takes.audition_state(context.scene)
        current = takes.current_take_id(strip)
        if audition is not None:
            row = layout.row(align=True)
            row.label(text="Auditioning solo", icon="SOLO_ON")
            row.operator("expotion.take_swap", text="Keep").take_id = current
            row.operator("expotion.take_audition", text="Stop").stop = True
        listed = takes.takes_of(strip)
        layout.label(text=f"{strip.name}: {len(listed)} take(s)")
        draw_temp(layout, context.scene, strip)
        for number, take in reversed(list(enumerate(listed, 1))):
            is_current = take.get("take_id") == current
            draw_take(layout, context, number, take, is_current, is_current and audition is not None)
        draw_regenerate(layout)


classes = (SEQUENCER_PT_expotion_takes,)
