"""Hand-built raw messages for focused tests."""

from __future__ import annotations


def raw_message(
    *headers: tuple[str, str],
    body: str = "Hello, where is my order?\n",
    sender: str = "Anna Customer <anna@customer.example>",
    subject: str = "Question about my order",
) -> bytes:
    """A plain-text message from a customer, plus the given extra header fields."""
    lines = [
        f"From: {sender}",
        "To: support@shop.example",
        f"Subject: {subject}",
        "Date: Mon, 23 Nov 2026 09:00:00 +0100",
        "Message-ID: <question-1@customer.example>",
        *(f"{name}: {value}" for name, value in headers),
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        body,
    ]
    return "\r\n".join(lines).encode("utf-8")
