"""Every shipped template, and the examples in tests/fidelity/examples, looks in Chromium as the
reference `mjml` compiler lays it out: at 375, 600 and 1,000 px, at most 0.5 % of the pixels
differ.

Both sides get the same customer: mailengine renders the mail as it sends it; for the
reference, the same Jinja runs on the MJML sources (template and partials) and `mjml` (npm,
pinned in `reference_mjml`) compiles them. Screenshots and the table are kept in
`$MAILENGINE_FIDELITY_DIR` (default: this test's temporary folder).
"""

from __future__ import annotations

import base64
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Page, Route, sync_playwright

from mailengine.render import TemplateLibrary
from mailengine.render.environment import html_environment, install_translations
from mailengine.render.mjml_cache import jinja_template
from mailengine.render.sample_data import sample_contexts
from tests.conftest import NOW
from tests.fidelity.reference_mjml import MJML_VERSION, reference_compiler
from tests.render.conftest import with_polls
from tests.render.test_render_shipped_templates import SHIPPED

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = Path(__file__).resolve().parent / "examples"
CHROMIUM = shutil.which("chromium")
WIDTHS = (375, 600, 1000)
LIMIT = 0.005  # share of differing pixels
TOLERANCE = 4  # per colour channel (of 255): white and the brand beige differ by 11-19
ASSETS = "http://assets.test/assets"
SUBJECT = "News from {{ sender.name }}"
PREHEADER = "{% if customer.first_name %}For {{ customer.first_name }}{% endif %}"
DIFFERING = """async ([first, second, tolerance]) => {
  const load = (data) => new Promise((done, fail) => {
    const image = new Image();
    image.onload = () => done(image);
    image.onerror = fail;
    image.src = "data:image/png;base64," + data;
  });
  const [a, b] = await Promise.all([load(first), load(second)]);
  const width = Math.max(a.width, b.width), height = Math.max(a.height, b.height);
  const pixels = (image) => {
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext("2d");
    context.fillStyle = "#ff00ff";  // what one has and the other lacks differs
    context.fillRect(0, 0, width, height);
    context.drawImage(image, 0, 0);
    return context.getImageData(0, 0, width, height).data;
  };
  const p = pixels(a), q = pixels(b);
  let differing = 0;
  for (let i = 0; i < p.length; i += 4) {
    if (Math.abs(p[i] - q[i]) > tolerance || Math.abs(p[i + 1] - q[i + 1]) > tolerance
        || Math.abs(p[i + 2] - q[i + 2]) > tolerance) differing++;
  }
  return [differing, width * height];
}"""


@dataclass(frozen=True)
class Case:
    root: Path
    name: str

    @property
    def label(self) -> str:
        return self.name if self.root != EXAMPLES else f"examples/{self.name}"

    @property
    def slug(self) -> str:
        return self.label.replace("/", "__")


CASES = [Case(REPO / "templates", name) for name in SHIPPED] + [
    Case(EXAMPLES, file.stem) for file in sorted(EXAMPLES.glob("*.mjml"))
]


def customer(library: TemplateLibrary) -> dict[str, Any]:
    """A sample customer with an order, a last order and a coupon; items with pictures."""
    found: dict[str, Any] = next(
        dict(context)
        for context in map(with_polls, sample_contexts(60, seed=3, now=NOW))
        if context.get("order") and context.get("last_order") and context.get("coupon")
    )
    picture = f"{ASSETS}/{library.assets.hashed_name('favourites/merino-sweater.png')}"
    for key in ("order", "last_order"):
        for item in found[key]["items"][:2]:
            item["image_url"] = picture
    content = yaml.safe_load((REPO / "broadcasts/december-newsletter.yaml").read_text())["content"]
    return {
        **found,
        "links": {**found["links"], "assets_url": ASSETS},
        "broadcast": {"name": "december-newsletter", "variant": "all", "content": content},
        # the poll partial, rendered alone for the reference, shows what its includer sets
        "poll": found["polls"]["delivery_nps"],
        "language": "en",  # the copy as written: the reference sees the same
    }


def write_reference_sources(
    library: TemplateLibrary, cases: list[Case], values: dict[str, Any], folder: Path
) -> None:
    """Each case's MJML with Jinja rendered, at the top of `folder`, beside its partials."""
    env = html_environment(library.assets)
    install_translations(env, library.catalogs)
    root = library.templates_dir
    for partial in (root / "partials").glob("*.mjml"):
        rendered = jinja_template(env, partial.read_text(), partial.name, str(partial))
        target = folder / "partials" / partial.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(rendered.render(values), encoding="utf-8")
    for case in cases:
        file = root / f"{case.name}.mjml"
        rendered = jinja_template(env, file.read_text(), case.name, str(file))
        (folder / f"{case.slug}.mjml").write_text(rendered.render(values), encoding="utf-8")


def served_assets(library: TemplateLibrary) -> Any:
    def serve(route: Route) -> None:
        url = route.request.url
        if not url.startswith(f"{ASSETS}/"):
            route.abort()  # nothing leaves the machine: web fonts and other hosts fail alike
            return
        asset = library.assets.published(url.removeprefix(f"{ASSETS}/"))
        if asset is None:
            route.fulfill(status=404)
        else:
            route.fulfill(status=200, body=asset.path.read_bytes(), content_type=asset.content_type)

    return serve


def screenshot(page: Page, html: str, width: int, path: Path) -> bytes:
    page.set_viewport_size({"width": width, "height": 800})
    page.set_content(html, wait_until="load")
    shot = page.screenshot(full_page=True)
    path.write_bytes(shot)
    return shot


@pytest.fixture
def fidelity_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("MAILENGINE_FIDELITY_DIR", tmp_path / "fidelity"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium: apt-get install chromium to run this")
def test_every_template_looks_as_the_reference_mjml_lays_it_out(fidelity_dir: Path) -> None:
    compile_reference, why_not = reference_compiler()
    if compile_reference is None:
        pytest.skip(why_not)
    libraries = {
        REPO / "templates": TemplateLibrary(REPO / "templates"),
        EXAMPLES: TemplateLibrary(EXAMPLES, assets_dir=REPO / "templates" / "assets"),
    }
    ours: dict[Case, str] = {}
    reference: dict[Case, str] = {}
    for root, library in libraries.items():
        cases = [case for case in CASES if case.root == root]
        values = customer(library)
        for case in cases:
            email = library.render(case.name, values, subject=SUBJECT, preheader=PREHEADER)
            ours[case] = email.html
        sources = fidelity_dir / "reference-sources" / root.name
        with_lines = {**values, "subject": email.subject, "preheader": email.preheader}
        write_reference_sources(library, cases, with_lines, sources)
        compiled = fidelity_dir / "reference-html" / root.name
        compile_reference(sources, [f"{case.slug}.mjml" for case in cases], compiled)
        for case in cases:
            reference[case] = (compiled / f"{case.slug}.html").read_text(encoding="utf-8")
    shares: dict[tuple[Case, int], float] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.route("**/*", served_assets(libraries[REPO / "templates"]))
            compare = browser.new_page()
            for case in CASES:
                for width in WIDTHS:
                    shots = fidelity_dir / "screenshots"
                    shots.mkdir(exist_ok=True)
                    mine = screenshot(page, ours[case], width, shots / f"{case.slug}-{width}.png")
                    theirs = screenshot(
                        page, reference[case], width, shots / f"{case.slug}-{width}-mjml.png"
                    )
                    differing, total = compare.evaluate(
                        DIFFERING,
                        [base64.b64encode(mine).decode(), base64.b64encode(theirs).decode(),
                         TOLERANCE],
                    )  # fmt: skip
                    shares[case, width] = differing / total
        finally:
            browser.close()
    table = fidelity_table(shares)
    (fidelity_dir / "fidelity.md").write_text(table, encoding="utf-8")
    print(f"\n{table}\nscreenshots in {fidelity_dir}")
    over = {f"{case.label} at {width} px": share for (case, width), share in shares.items()}
    assert {where: share for where, share in over.items() if share > LIMIT} == {}


def fidelity_table(shares: dict[tuple[Case, int], float]) -> str:
    head = " | ".join(f"{width} px" for width in WIDTHS)
    lines = [
        f"Pixels differing from mjml {MJML_VERSION}, Chromium, full page:",
        "",
        f"| template | {head} |",
        "| --- |" + " ---: |" * len(WIDTHS),
    ]
    for case in CASES:
        cells = " | ".join(f"{shares[case, width] * 100:.2f} %" for width in WIDTHS)
        lines.append(f"| {case.label} | {cells} |")
    return "\n".join(lines) + "\n"
