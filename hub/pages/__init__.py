"""Server-rendered pages (Jinja2, zh-CN first) on top of the hub's service modules.

``page_handlers()`` is the list the app registers; ``template_config()`` the Jinja2 set-up;
``html_errors`` wraps the app's exception handlers so browsers get friendly pages.
"""

from __future__ import annotations

from typing import Any

from hub.pages.errors import html_errors
from hub.pages.render import template_config


def page_handlers() -> list[Any]:
    from hub.pages import (
        admin,
        admin_edit,
        assets_routes,
        auth,
        catalogue,
        center,
        classroom_screen,
        inbox,
        method_page,
        public,
        teacher,
        teacher_courses,
        volunteer_admin,
        volunteer_ledger,
        volunteer_verify,
    )

    return [
        *assets_routes.HANDLERS,
        *auth.HANDLERS,
        *public.HANDLERS,
        *catalogue.HANDLERS,
        *method_page.HANDLERS,
        *teacher.HANDLERS,
        *teacher_courses.HANDLERS,
        *center.HANDLERS,
        *classroom_screen.HANDLERS,
        *inbox.HANDLERS,
        *admin.HANDLERS,
        *admin_edit.HANDLERS,
        *volunteer_ledger.HANDLERS,
        *volunteer_admin.HANDLERS,
        *volunteer_verify.HANDLERS,
    ]


__all__ = ["html_errors", "page_handlers", "template_config"]
