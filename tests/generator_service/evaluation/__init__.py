"""Tests of the evaluation instrument (metrics on constructed signals, runner, report)."""
