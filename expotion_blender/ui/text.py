"""Text in the sidebar: long messages (errors, hints, prompts) wrapped to the region's width,
one label per line, so nothing is cut off at the panel's edge."""

from __future__ import annotations

import textwrap

import bpy

CHAR_PX = 7.0  # average width of a UI character at scale 1
DEFAULT_CHARS = 50  # without a region (a script drawing the panel)


def width_chars(context: bpy.types.Context) -> int:
    region = getattr(context, "region", None)
    if region is None or region.width <= 0:
        return DEFAULT_CHARS
    scale = context.preferences.system.ui_scale if context.preferences else 1.0
    return max(16, int((region.width - 30) / (CHAR_PX * scale)))


def wrapped(layout: bpy.types.UILayout, context: bpy.types.Context, text: str, icon: str = "NONE") -> None:
    """`text` as labels no wider than the region; the icon on the first line, indented lines after."""
    if not text:
        return
    col = layout.column(align=True)
    first = True
    for line in textwrap.wrap(text, width_chars(context)) or [text]:
        col.label(text=line, icon=icon if first else "BLANK1")
        first = False
