"""Turn an exception raised while rendering one customer into a RenderError that says where."""

from __future__ import annotations

from types import TracebackType

from jinja2.exceptions import SecurityError
from jinja2.utils import missing

from mailengine.errors import RenderError, SourceLocation
from mailengine.render.environment import MissingValueError
from mailengine.render.source_map import SourceMap, variable_on_line


class TemplateRenderError(RenderError):
    """One customer's email could not be rendered; the other customers are not affected."""

    def __init__(
        self,
        message: str,
        *,
        template: str,
        part: str,
        customer_email: str | None,
        variable: str | None = None,
        location: SourceLocation | None = None,
    ) -> None:
        super().__init__(message, location=location)
        self.template = template
        self.part = part
        self.customer_email = customer_email
        self.variable = variable


def template_line(exc: BaseException, filename: str) -> int | None:
    """The line of the compiled template (`filename`) where `exc` was raised, if it was."""
    line = None
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render_failure(
    exc: Exception,
    *,
    template: str,
    part: str,
    customer_email: str | None,
    compiled_source: str,
    filename: str,
    source_map: SourceMap | None,
    fallback_location: SourceLocation | None = None,
    detail: str = "",
) -> TemplateRenderError:
    """Describe `exc` with the template, source line, variable and customer it concerns."""
    line = template_line(exc, filename)
    name = exc.name if isinstance(exc, MissingValueError) else None
    variable: str | None = None
    location = fallback_location
    if line is not None:
        variable = variable_on_line(compiled_source, line, name)
        if source_map is not None:
            location = source_map.locate(compiled_source, line, name) or location
    variable = variable or name
    customer = customer_email or "(no email in context)"
    where = f"the {part} of {template}"
    if isinstance(exc, MissingValueError):
        if exc.owner is missing:
            what = f"{variable} is not defined (no such variable in the context)"
        else:
            what = f"{variable} is missing"
        message = (
            f"{what} for customer {customer} in {where}; give a fallback such as "
            f"`{{{{ {variable} | default('...') }}}}` or test it with `{{% if {variable} %}}`"
        )
    elif isinstance(exc, SecurityError):
        message = f"the sandbox refused {exc} in {where} for customer {customer}"
    else:
        message = f"{type(exc).__name__}: {exc} in {where} for customer {customer}"
    return TemplateRenderError(
        message + detail,
        template=template,
        part=part,
        customer_email=customer_email,
        variable=variable,
        location=location,
    )
