"""One library shared by threads and coroutines compiles each template once."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from mailengine.render import RenderedEmail, TemplateLibrary
from mailengine.render.sample_data import sample_contexts
from tests.render.conftest import REPO


def test_threads_share_one_compiled_template() -> None:
    library = TemplateLibrary(REPO / "templates")
    customers = list(sample_contexts(64, seed=8))
    with ThreadPoolExecutor(max_workers=8) as pool:
        compiled = list(pool.map(lambda _: library.compiled("win-back/coupon"), range(32)))
        emails = list(
            pool.map(lambda c: library.render("win-back/coupon", c, subject="Hi"), customers)
        )
    assert all(c is compiled[0] for c in compiled)
    assert [e.html for e in emails] == [
        library.render("win-back/coupon", c, subject="Hi").html for c in customers
    ]


async def test_rendering_from_coroutines_through_a_thread() -> None:
    library = TemplateLibrary(REPO / "templates")
    customers = list(sample_contexts(16, seed=9))

    async def one(index: int) -> RenderedEmail:
        return await asyncio.to_thread(
            library.render, "welcome/hello", customers[index], subject="Hi"
        )

    emails = await asyncio.gather(*(one(i) for i in range(len(customers))))
    assert [e.text for e in emails] == [
        library.render("welcome/hello", c, subject="Hi").text for c in customers
    ]
