"""Personalised emails: MJML compiled once, Jinja in a strict sandbox per recipient.

It imports only the shared vocabulary.
"""

from mailengine.render.checks import TemplateProblem
from mailengine.render.context import (
    CouponData,
    CustomerData,
    LinksData,
    OrderData,
    OrderItemData,
    RenderContext,
    SenderData,
    TicketData,
    build_context,
)
from mailengine.render.failures import TemplateRenderError
from mailengine.render.library import RenderedEmail, TemplateLibrary

__all__ = [
    "CouponData",
    "CustomerData",
    "LinksData",
    "OrderData",
    "OrderItemData",
    "RenderContext",
    "RenderedEmail",
    "SenderData",
    "TemplateLibrary",
    "TemplateProblem",
    "TemplateRenderError",
    "TicketData",
    "build_context",
]
