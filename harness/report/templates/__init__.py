"""Jinja2 templates and the stylesheet of the reports (package data, shipped in the wheel)."""
