"""`expotion.score_timeline`: score one range of the edit as one piece."""

import bpy

from .. import properties, runtime, scoring, timeline
from . import dispatch


class EXPOTION_OT_score_timeline(dispatch.ScoringOperator, bpy.types.Operator):
    """Generate one piece of music for a range of the edit (the preview range, else the selected strips' span, else the scene), across its cuts; cuts and markers become hit points the music accents"""

    bl_idname = "expotion.score_timeline"
    bl_label = "Score Timeline"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        scene = context.scene
        if scene is None:
            return False
        reason = timeline.why_not_scorable(scene) or dispatch.score_refusal(context, [])
        if not reason and timeline.scoring_range(scene).key(scene) in runtime.busy_strip_keys():
            reason = "Expotion is already scoring this range: wait for it or cancel it"
        return dispatch.refuse(cls, reason)

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        span = timeline.scoring_range(scene)
        item = scoring.Item(scene, None, properties.params_from(scene.expotion), span=span)
        return self.score(context, [item])
