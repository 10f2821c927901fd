"""Fixtures for the render tests: the shipped templates, generated customers, scratch folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bench.pipeline_bench import write_shop
from mailengine.addresses import address_hash
from mailengine.polls.links import LinkSigner, PollBlocks, QuestionnaireLinks
from mailengine.polls.loader import load_polls
from mailengine.render import RenderContext, TemplateLibrary
from mailengine.render.sample_data import sample_contexts
from tests.conftest import NOW

REPO = Path(__file__).resolve().parents[2]

WriteTemplate = Callable[[str, str], Path]


@pytest.fixture(scope="session")
def library() -> TemplateLibrary:
    """The templates shipped in the repository."""
    return TemplateLibrary(REPO / "templates")


SHIPPED_POLLS = load_polls([REPO / "polls"], [REPO / "questionnaires"])


def with_polls(context: RenderContext) -> RenderContext:
    """The context with the shipped polls' blocks and questionnaires' links, as the composer
    gives them."""
    digest = address_hash(context["customer"]["email"])
    signer = LinkSigner(b"k" * 32, "https://shop.example", digest, NOW, 7)
    context["polls"] = PollBlocks(SHIPPED_POLLS.polls, signer)  # type: ignore[typeddict-item]
    forms = QuestionnaireLinks(SHIPPED_POLLS.questionnaires, signer)
    context["questionnaires"] = forms  # type: ignore[typeddict-item]
    return context


@pytest.fixture(scope="session")
def thousand_customers() -> list[RenderContext]:
    """Sample customers, each with the shipped polls' blocks and questionnaires' links."""
    return [with_polls(context) for context in sample_contexts(1000, seed=20250601)]


@pytest.fixture
def scratch_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    folder.mkdir()
    return folder


@pytest.fixture
def write_template(scratch_dir: Path) -> WriteTemplate:
    """Write `name` (`x/y` → `x/y.mjml`; a name ending in .mjml is kept) under scratch_dir."""

    def write(name: str, text: str) -> Path:
        path = scratch_dir / (name if name.endswith(".mjml") else f"{name}.mjml")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def scratch_library(scratch_dir: Path) -> TemplateLibrary:
    return TemplateLibrary(scratch_dir)


@pytest.fixture(scope="module")
def bench_library(tmp_path_factory: pytest.TempPathFactory) -> TemplateLibrary:
    """The benchmark's weekly offers (`bench/pipeline_bench.py`) in a folder of their own."""
    templates, _ = write_shop(tmp_path_factory.mktemp("bench"))
    return TemplateLibrary(templates)


@pytest.fixture(scope="module")
def customers() -> list[RenderContext]:
    """Thirty generated customers (several locales and currencies) with the shipped polls."""
    return [with_polls(context) for context in sample_contexts(30, seed=29)]
