"""Sidebar UI; `classes` in registration order (parent panel first)."""

from . import job_list, panel, takes_browser

classes = panel.classes + takes_browser.classes + job_list.classes
