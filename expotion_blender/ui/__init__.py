"""Sidebar UI; `classes` in registration order (parent panel first)."""

from . import job_list, panel

classes = panel.classes + job_list.classes
