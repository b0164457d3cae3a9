"""Jinja2 templates of the pages (installed as the ``hub.templates`` package); the printable
reports under ``reports/`` belong to the reporting plugins."""
