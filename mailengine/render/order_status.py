"""Order statuses as customers read them: `{{ order.status | order_status }}` → "On its way".

Every status the store knows (`store.models.ORDER_STATUSES`, a test holds them equal) has a
label in each language here. The filter gives the label in the language of the mail's copy
(see `render.translations`); a template may name its own (`order_status('de')`). A
status from outside the list (a value a shop system made up) is shown as plain words.
"""

from __future__ import annotations

from typing import Any

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "placed": "Received",
        "paid": "Paid",
        "shipped": "On its way",
        "delivered": "Delivered",
        "cancelled": "Cancelled",
        "returned": "Returned",
    },
    "de": {
        "placed": "Eingegangen",
        "paid": "Bezahlt",
        "shipped": "Unterwegs",
        "delivered": "Zugestellt",
        "cancelled": "Storniert",
        "returned": "Zurückgeschickt",
    },
    "fr": {
        "placed": "Reçue",
        "paid": "Payée",
        "shipped": "En route",
        "delivered": "Livrée",
        "cancelled": "Annulée",
        "returned": "Retournée",
    },
}
DEFAULT_LANGUAGE = "en"


def order_status(status: Any, language: str = DEFAULT_LANGUAGE) -> str:
    """The label of `status` in `language` (a code such as `de` or `de-DE`; English if none)."""
    labels = LABELS.get(str(language).replace("_", "-").split("-")[0].lower(), LABELS["en"])
    text = str(status).strip()
    label = labels.get(text.lower())
    if label is not None:
        return label
    words = " ".join(text.replace("_", " ").replace("-", " ").split())
    return words[:1].upper() + words[1:].lower()
