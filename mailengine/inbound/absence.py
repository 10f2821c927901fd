"""Out-of-office notices that say so only in their words: no Auto-Submitted, no telling subject.

Some responders send "Re: <your subject>" with nothing but the text to betray them. A message
reads as one when it answers something (a reply prefix or In-Reply-To), its own words (the
quoted message cut off) open with an absence phrase in English, German, French, Spanish,
Dutch or Italian, and it asks nothing: a customer who writes "I was away, where is my
parcel?" asks, and is answered. A wrong guess costs only the acknowledgement: the team still
sees the message.
"""

from __future__ import annotations

import re

from mailengine.inbound.message import InboundMessage

# How far into a message's own words an absence notice says what it is.
_OPENING_CHARS = 600
_FRESH_CHARS = 3_000

_REPLY_SUBJECT = re.compile(
    r"^\s*(?:re|aw|sv|vs|antw|antwort|wg|réf|ref|r|rif|ynt)\s*(?:\[\d+\])?\s*:", re.IGNORECASE
)

# Where the quoted message starts in a reply.
_QUOTE_STARTS = re.compile(
    r"^\s*(?:>"
    r"|-{2,}\s*(?:original(?:ly)? message|ursprüngliche nachricht|message d'origine"
    r"|mensaje original|oorspronkelijk bericht|messaggio originale)"
    r"|_{5,}"
    r"|(?:from|von|de|van|da|sent|gesendet|envoyé|enviado|verzonden)\s*:"
    r"|on .{4,120} wrote:|am .{4,120} schrieb .{0,80}:|le .{4,120} a écrit\s*:"
    r"|el .{4,120} escribió:|op .{4,120} schreef .{0,80}:|il .{4,120} ha scritto:)",
    re.IGNORECASE | re.MULTILINE,
)

_UNTIL = r"(?:until|till|through|from|between)"
ABSENCE_PHRASES = re.compile(
    "|".join(
        (
            # English
            r"\bi(?:'m| am| will be| shall be)(?: currently| now)? (?:out of (?:the |my )?office"
            r"|away from (?:the |my )?(?:office|desk)|on (?:annual |parental |sick )?leave"
            r"|on (?:vacation|holiday))\b",
            rf"\bi(?:'m| am| will be)(?: currently)? (?:away|out|off) {_UNTIL}\b",
            r"\bwith (?:limited|no|restricted) access to (?:my )?e-?mails?\b",
            r"\b(?:respond|reply|get back to you|answer)(?: to your (?:e-?mail|message))?"
            r" (?:when|upon|as soon as|after) (?:i|my) return",
            # German
            r"\bich bin (?:bis|vom|von|ab|am|zwischen)\b.{0,60}?\b(?:nicht im büro|abwesend"
            r"|im urlaub|außer haus|nicht erreichbar|nicht im hause)\b",
            r"\bich bin (?:derzeit |zurzeit |momentan |aktuell |leider )?(?:nicht im büro"
            r"|abwesend|im urlaub|außer haus|nicht im hause)\b",
            r"\b(?:ab|am) .{0,30}? bin ich wieder (?:im büro|erreichbar|zurück|da)\b",
            # French
            r"\bje (?:suis|serai)(?: actuellement)? (?:absente?|en (?:congés?|vacances)"
            r"|hors du bureau|en dehors du bureau)\b",
            r"\bje serai de retour (?:le|au bureau)\b",
            # Spanish
            r"\b(?:estoy|estaré|me encuentro|estaremos)(?: actualmente)? (?:fuera de (?:la|mi)"
            r" oficina|de vacaciones|ausente)\b",
            r"\bno estaré en (?:la|mi) oficina\b",
            # Dutch
            r"\bik ben (?:tot en met|t/m|tot|vanaf|van|op)\b.{0,60}?\b(?:afwezig|niet aanwezig"
            r"|op vakantie|niet op kantoor|met verlof)\b",
            r"\bik ben (?:momenteel |op dit moment |helaas )?(?:afwezig|niet aanwezig|op vakantie"
            r"|niet op kantoor|met verlof)\b",
            # Italian
            r"\bsono (?:attualmente )?(?:fuori ufficio|assente|in ferie)\b",
            r"\bsarò (?:fuori ufficio|assente|in ferie)\b",
        )
    ),
    re.IGNORECASE,
)


def own_words(body: str) -> str:
    """A message's own text: what comes before the quoted message it answers."""
    match = _QUOTE_STARTS.search(body[:_FRESH_CHARS])
    return body[: match.start()] if match else body[:_FRESH_CHARS]


def looks_like_absence_notice(msg: InboundMessage) -> bool:
    """An out-of-office reply recognisable only by its words (see the module's docstring)."""
    if not (_REPLY_SUBJECT.match(msg.subject) or msg.in_reply_to or msg.references):
        return False
    words = own_words(msg.body_text)
    if "?" in words or "¿" in words:
        return False
    opening = " ".join(words[:_OPENING_CHARS].split())
    return bool(ABSENCE_PHRASES.search(opening))
