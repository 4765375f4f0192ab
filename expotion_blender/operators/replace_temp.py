"""`expotion.replace_temp_track`: original music in place of a temp track, following its melody."""

import bpy

from expotion_protocol.errors import ExpotionError

from .. import properties, scoring, snapshot, temp_track, timeline, vse
from . import dispatch
from .score_strips import selected_movies


def movies_span(scene: bpy.types.Scene) -> timeline.Span:
    """The range scored as one piece: the preview range if on, else the selected movies' span."""
    if scene.use_preview_range:
        return timeline.scoring_range(scene)
    spans = [vse.visible_range(s) for s in selected_movies(scene)]
    return timeline.Span(min(a for a, _ in spans), max(b for _, b in spans), "selection")


class EXPOTION_OT_replace_temp_track(dispatch.ScoringOperator, bpy.types.Operator):
    """Replace the selected temp track (a sound strip) with original music for the selected movie strips that follows the temp's melody and the performer; the temp is muted, not deleted, and stays one click away in the Takes panel (needs a melody model on the service, e.g. facebook/musicgen-melody)"""

    bl_idname = "expotion.replace_temp_track"
    bl_label = "Replace Temp Track"

    scope: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Scope",
        items=(
            ("STRIPS", "Per Strip", "One piece of music per selected movie strip, each following the temp under it"),
            (
                "TIMELINE",
                "As One Piece",
                "One piece over the preview range (else the selected movies' span), across its cuts, as Score Timeline",
            ),
        ),
        default="STRIPS",
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        scene = context.scene
        if scene is None:
            return False
        reason = snapshot.why_not_scorable(scene) or temp_track.why_no_temp(scene)
        return dispatch.refuse(cls, reason or dispatch.score_refusal(context, selected_movies(scene)))

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        try:
            temp = temp_track.selected_temp(scene)
        except ExpotionError as exc:
            self.report({"ERROR"}, exc.user_text())
            return {"CANCELLED"}
        base = properties.params_from(scene.expotion)
        if self.scope == "TIMELINE":
            items = [scoring.Item(scene, None, base, span=movies_span(scene), temp=temp)]
        else:
            items = [scoring.Item(scene, s, base, temp=temp) for s in selected_movies(scene)]
        return self.score(context, items)
