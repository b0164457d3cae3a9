"""Jinja2 templates (pages come with the pages issue)."""
