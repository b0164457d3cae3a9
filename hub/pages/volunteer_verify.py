"""``/verify/{number}``: the public check of a volunteer certificate (the QR code's target).

Shows only the volunteer's name, the period, the hours, the issuer and whether the
certificate stands, was superseded or was revoked; never cached (a revocation shows at once).
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.params import Parameter
from litestar.response import Template

from hub.pages.render import page
from hub.volunteer import certificates


@get("/verify/{number:str}", name="pages:volunteer-verify")
async def verify_page(
    request: Request[Any, Any, Any], number: Annotated[str, Parameter(max_length=40)]
) -> Template:
    """Whether a volunteer certificate is genuine and still stands."""
    return page(
        request,
        "volunteer/verify.html",
        {"cert": await certificates.public_view(number)},
        headers={"Cache-Control": "no-store"},
    )


HANDLERS = [verify_page]
