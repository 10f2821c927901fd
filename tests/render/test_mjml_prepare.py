"""What MRML would lay out otherwise than `mjml` is mended before it compiles: sections of
included files keep the body's width, `<mj-body>` takes its `<mj-attributes>`, and a line
break inside an attribute value does not drop the style."""

from __future__ import annotations

import re

import pytest

from mailengine.errors import SourceError, SourceLocation
from mailengine.render import TemplateLibrary
from mailengine.render.environment import html_environment, text_environment
from mailengine.render.mjml_cache import compile_template
from mailengine.render.mjml_prepare import prepare_mjml
from tests.render.conftest import WriteTemplate

SECTION = (
    '<mj-section background-color="#ffffff">'
    "<mj-column><mj-text>In a section</mj-text></mj-column></mj-section>"
)


def including(path: str, head: str = "") -> str:
    """A template whose body is the include of `path`."""
    return f'<mjml>\n{head}<mj-body>\n<mj-include path="{path}" />\n</mj-body>\n</mjml>'


HEAD = '<mj-head><mj-attributes><mj-body background-color="#f4f1ec" /></mj-attributes></mj-head>'


def body_of(html: str) -> str:
    return html[html.index("<body") :]


def test_a_section_from_an_include_keeps_the_600px_column(
    write_template: WriteTemplate, scratch_dir: object
) -> None:
    write_template("partials/part.mjml", SECTION)
    write_template("inline", f"<mjml><mj-body>{SECTION}</mj-body></mjml>")
    write_template("included", including("partials/part.mjml"))
    library = TemplateLibrary(write_template("x", "<mjml/>").parent)
    included = library.render("included", {}, subject="s").html
    assert "max-width:600px" in included
    assert re.search(r'width="600"\s+style="width:600px;"', included)  # the Outlook table
    assert body_of(included) == body_of(library.render("inline", {}, subject="s").html)


def test_a_whole_document_included_gives_its_body(write_template: WriteTemplate) -> None:
    write_template("partials/whole.mjml", f"<mjml>\n<mj-body>{SECTION}</mj-body>\n</mjml>")
    folder = write_template("t", including("partials/whole.mjml")).parent
    html = TemplateLibrary(folder).render("t", {}, subject="s").html
    assert "In a section" in html and "max-width:600px" in html


def test_the_body_takes_its_background_and_width_from_mj_attributes(
    write_template: WriteTemplate,
) -> None:
    write_template("partials/head.mjml", HEAD.removeprefix("<mj-head>").removesuffix("</mj-head>"))
    write_template("attributes", f"<mjml>{HEAD}<mj-body>{SECTION}</mj-body></mjml>")
    write_template(
        "from-include",
        f'<mjml><mj-head><mj-include path="partials/head.mjml" /></mj-head>'
        f"<mj-body>{SECTION}</mj-body></mjml>",
    )
    write_template(
        "own", f'<mjml>{HEAD}<mj-body background-color="#102030">{SECTION}</mj-body></mjml>'
    )
    narrow = HEAD.replace("/>", 'width="480px" />')
    folder = write_template("narrow", f"<mjml>{narrow}<mj-body>{SECTION}</mj-body></mjml>").parent
    library = TemplateLibrary(folder)
    for name in ("attributes", "from-include"):
        html = library.render(name, {}, subject="s").html
        assert re.search(r'<body style="[^"]*background-color:#f4f1ec', html), name
    # What <mj-body> says itself wins over <mj-attributes>.
    own = library.render("own", {}, subject="s").html
    assert re.search(r'<body style="[^"]*background-color:#102030', own)
    assert "max-width:480px" in library.render("narrow", {}, subject="s").html


def test_a_line_break_inside_a_style_attribute_keeps_the_style(
    write_template: WriteTemplate,
) -> None:
    folder = write_template(
        "styled",
        "<mjml><mj-body><mj-section><mj-column><mj-text>"
        '<p style="color: #b00020;\n   font-weight: bold">Red</p>'
        "</mj-text></mj-column></mj-section></mj-body></mjml>",
    ).parent
    html = TemplateLibrary(folder).render("styled", {}, subject="s").html
    assert "\\n" not in html
    assert re.search(r'<p style="color: #b00020;\s+font-weight: bold">Red</p>', html)


def test_a_missing_include_inside_an_include_names_that_file_and_line(
    write_template: WriteTemplate,
) -> None:
    write_template(
        "partials/outer.mjml", f'{SECTION}\n\n  <mj-include path="partials/gone.mjml" />'
    )
    folder = write_template("t", including("partials/outer.mjml")).parent
    gone = r"included file 'partials/gone\.mjml' not found"
    with pytest.raises(SourceError, match=gone) as raised:
        compile_template(folder, "t", html_environment(), text_environment())
    assert raised.value.location == SourceLocation("templates/partials/outer.mjml", 3, 3)


def test_positions_map_back_to_their_file() -> None:
    files = {"a.mjml": "<mj-text>A</mj-text>", "b.mjml": '  <mj-include path="a.mjml" />!'}
    root = HEAD + '<mj-body><mj-include path="b.mjml" /></mj-body>'
    prepared = prepare_mjml(root, files.__getitem__)
    assert prepared.locate(prepared.text.index("A</mj-text>")) == ("a.mjml", 9)
    assert prepared.locate(prepared.text.index("!")) == ("b.mjml", len(files["b.mjml"]) - 1)
    root_end = len(HEAD) + len('<mj-body><mj-include path="b.mjml" />')
    assert prepared.locate(prepared.text.index("</mj-body>")) == (None, root_end)
