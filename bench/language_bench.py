"""What translated copy costs per mail: English, German and French renders of shipped
templates, interleaved customer by customer so that load on the machine falls on all alike.

Run from the repository root:

    .venv/bin/python bench/language_bench.py [--customers 400] [--runs 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mailengine.render import TemplateLibrary
from mailengine.render.sample_data import sample_contexts

TEMPLATES = ("thank-you/order-confirmed", "welcome/our-favourites")
LOCALES = ("en_US", "de_DE", "fr_FR")
SUBJECT = "Thank you for your order, {{ customer.first_name | default('there') }}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=400)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    library = TemplateLibrary(Path(__file__).resolve().parents[1] / "templates")
    contexts = list(sample_contexts(args.customers, seed=3))
    for name in TEMPLATES:
        best = dict.fromkeys(LOCALES, float("inf"))
        for _ in range(args.runs):
            spent = dict.fromkeys(LOCALES, 0.0)
            for context in contexts:
                for locale in LOCALES:
                    values = {**context, "customer": {**context["customer"], "locale": locale}}
                    start = time.perf_counter()
                    library.render(name, values, subject=SUBJECT)
                    spent[locale] += time.perf_counter() - start
            for locale in LOCALES:
                best[locale] = min(best[locale], spent[locale] / len(contexts) * 1e6)
        shown = ", ".join(f"{locale} {micros:.0f} µs" for locale, micros in best.items())
        print(f"{name}: {shown} a mail (best of {args.runs})")


if __name__ == "__main__":
    main()
