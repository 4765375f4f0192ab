"""`expotion.score_strips`: score every selected movie strip."""

import bpy

from .. import properties, scoring, snapshot, vse
from . import dispatch


def selected_movies(scene: bpy.types.Scene) -> list:
    return [s for s in vse.selected_strips(scene) if vse.is_movie(s)]


class EXPOTION_OT_score_strips(dispatch.ScoringOperator, bpy.types.Operator):
    """Generate music for the selected movie strips (music made before is replaced; its takes are kept)"""

    bl_idname = "expotion.score_strips"
    bl_label = "Score Strips"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if context.scene is None:
            return False
        return dispatch.refuse(
            cls,
            snapshot.why_not_scorable(context.scene) or dispatch.score_refusal(context, selected_movies(context.scene)),
        )

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        selected = vse.selected_strips(scene)
        movies = selected_movies(scene)
        if len(movies) < len(selected):
            self.report({"WARNING"}, f"Skipping {len(selected) - len(movies)} selected strip(s) that are not movies")
        items = [scoring.Item(scene, s, properties.params_from(scene.expotion)) for s in movies]
        return self.score(context, items)
