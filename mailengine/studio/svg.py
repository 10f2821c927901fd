"""A few helpers to write SVG as escaped markup: elements, text, paths, the accessible frame.

Every attribute value and every text is escaped here, so drawing code never builds markup by
hand. Numbers are written with at most one decimal. Colours are presentation attributes
(`fill`, `stroke`), which the studio's Content-Security-Policy allows where it forbids
inline `style`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from markupsafe import Markup, escape

Attribute = str | int | float | None
Point = tuple[float, float]

INK = "#1f2937"
MUTED = "#4b5563"
RULE = "#d1d5db"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


def number(value: float) -> str:
    """12.0 -> '12', 12.25 -> '12.2' (SVG needs no more precision than a tenth of a pixel)."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def element(tag: str, attributes: Mapping[str, Attribute], *children: str) -> Markup:
    """`<tag a="1">children</tag>`; `None` attributes are left out, `_` in names becomes `-`.
    Plain-string children are escaped, Markup children kept."""
    written = "".join(
        f' {name.rstrip("_").replace("_", "-")}="{_value(value)}"'
        for name, value in attributes.items()
        if value is not None
    )
    inner = "".join(str(escape(child)) for child in children)
    if not inner:
        return Markup(f"<{tag}{written}/>")
    return Markup(f"<{tag}{written}>{inner}</{tag}>")


def text(x: float, y: float, content: str, **attributes: Attribute) -> Markup:
    return element("text", {"x": x, "y": y, **attributes}, content)


def path(points: Iterable[Point], **attributes: Attribute) -> Markup:
    """An open polyline through `points` as a path."""
    steps = [f"{number(x)} {number(y)}" for x, y in points]
    return element("path", {"d": "M" + " L".join(steps), "fill": "none", **attributes})


def group(children: Iterable[str], **attributes: Attribute) -> Markup:
    return element("g", attributes, Markup("").join(children))


def document(
    width: float, height: float, title: str, description: str, ident: str, body: Iterable[str]
) -> Markup:
    """An `<svg role="img">` named by its `<title>` and described by its `<desc>`."""
    return element(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "viewBox": f"0 0 {number(width)} {number(height)}",
            "width": width,
            "height": height,
            "role": "img",
            "aria_labelledby": f"{ident}-title {ident}-desc",
            "font_family": FONT,
            "class": "studio-svg",
        },
        element("title", {"id": f"{ident}-title"}, title),
        element("desc", {"id": f"{ident}-desc"}, description),
        Markup("").join(body),
    )


def clipped(content: str, limit: int) -> str:
    """`content` cut to `limit` characters with an ellipsis (SVG text does not wrap)."""
    return content if len(content) <= limit else content[: max(limit - 1, 0)].rstrip() + "…"


def _value(value: Attribute) -> str:
    if isinstance(value, float):
        return number(value)
    return str(escape(str(value)))
