"""The words of mail servers' failure reports, one compiled pattern per bounce reason.

Matched against a lower-cased report with runs of white space collapsed. The reason names and
many phrases follow sisimai (BSD-2-Clause), the bounce classifier whose test corpus we score on.
"""

from __future__ import annotations

import re


def words(*phrases: str) -> re.Pattern[str]:
    return re.compile("|".join(phrases), re.IGNORECASE)


# Text probes, checked in this order; the first that matches names the reason.
MAILBOX_FULL = words(
    r"mail ?box (?:is )?full",
    r"mailbox (?:\S+ )?(?:is )?(?:over|exceeds?|exceeded)",
    r"quota (?:exceeded|exceed|full|violation)",
    r"over ?quota",
    r"exceeded (?:the |his |her |their )?(?:storage|quota|mailbox|disk)",
    r"insufficient (?:disk |system )?(?:space|storage)",
    r"not enough (?:disk )?(?:storage|space)",
    r"(?:user|recipient|account)(?:'s)? (?:mailbox )?(?:is )?(?:over|exceeded) "
    r"(?:the )?(?:quota|limit|storage)",
    r"(?:account|inbox|mailfolder|mailbox) (?:is )?full",
    r"disk quota",
    r"would exceed (?:the )?quota",
    r"too much mail data",
    r"mailbox size limit exceeded",
    r"dos mailbox limit",
    r"boite du destinataire pleine|postfach (?:ist )?voll",
    r"user has exceeded",
    r"exceeds? (?:the )?(?:storage|mailbox) (?:quota|limit|allocation)",
)
MESSAGE_TOO_BIG = words(
    r"message (?:size|length) exceeds? (?:fixed )?(?:maximum|the|limit)",
    r"message (?:is )?too (?:big|large)",
    r"mail (?:is )?too (?:big|large)",
    r"exceeds? (?:the )?(?:maximum )?(?:message )?size",
    r"size (?:limit )?exceeded",
    r"message size (?:\S+ )?exceeds",
    r"maximum (?:message )?size",
    r"message length exceeds",
    r"larger than the (?:maximum|permitted)",
)
EXCEED_LIMIT = words(r"exceeds? (?:the )?(?:administrative|per-mailbox) limit")
SUSPEND = words(
    r"(?:account|mailbox|user|address|recipient)(?: \S+)? (?:has been |is |was )?"
    r"(?:currently |temporarily )?(?:suspended|disabled|deactivated|frozen|locked|inactive"
    r"|terminated|discontinued)",
    r"(?:suspended|disabled|inactive|deactivated|blocked|closed) (?:account|mailbox|user)",
    r"inactive user|invalid/inactive",
    r"archived recipient",
    r"mailbox unavailable or access denied",
    r"recipient suspend",
    r"temporarily inactive",
    r"is a deactivated mailbox",
    r"account that you tried to reach is (?:disabled|inactive)",
    r"user or domain is disabled",
    r"no longer accepts mail",
    r"boite du destinataire archivee",
)
HAS_MOVED = words(r" has been replaced by ", r"mailbox has moved", r"address has moved")
NO_RELAYING = words(
    r"relay(?:ing)? (?:access )?(?:denied|not permitted|not allowed|prohibited|refused)",
    r"not (?:permitted|allowed|authori[sz]ed) to relay",
    r"unable to relay|we do not relay|does not relay|no relaying|relay not permitted",
    r"relaying (?:mail )?(?:to \S+ )?(?:is )?not (?:allowed|permitted)",
    r"not a gateway",
    r"isn't in my list of allowed rcpthosts",
)
AUTH_FAILURE = words(
    r"\bspf\b[^.]{0,40}(?:fail|softfail|not pass|reject|check)",
    r"\bdkim\b[^.]{0,40}(?:fail|invalid|not pass|reject)",
    r"\bdmarc\b[^.]{0,60}(?:fail|policy|reject|not pass)",
    r"sender policy framework",
    r"unauthenticated (?:e-?mail|sender|message)",
    r"(?:fails?|failed) (?:to pass )?(?:spf|dkim|dmarc|sender authentication)",
    r"domain authentication (?:fail|check)",
    r"authentication (?:check )?(?:fail(?:ed|ure)?|required)[^.]{0,40}(?:spf|dkim|dmarc|sender)",
    r"is not authorized to send|not permitted by (?:the )?(?:spf|domain)",
    r"authentication checks? (?:failed|did not pass)",
)
USER_UNKNOWN = words(
    r"user(?:name)? (?:is )?unknown",
    r"unknown (?:user|recipient|mailbox|local[- ]?part|address|e-?mail address)",
    r"no such (?:user|mailbox|recipient|person|address|account)",
    r"(?:user|mailbox|recipient|address|account|addressee|e-?mail address)(?: \S+)? "
    r"(?:does not|doesn't|did not|not) (?:exist|found)",
    r"(?:user|mailbox|recipient|account)(?: \S+)? (?:was )?not found",
    r"(?:invalid|bad|unknown|non-?existent|nonexisting|illegal) "
    r"(?:user|recipient|mailbox|address|account|e-?mail address)",
    r"recipient (?:address )?rejected: "
    r"(?:user|unknown|invalid|undeliverable|access denied|no such)",
    r"mailbox (?:is )?(?:unavailable|not available|not present|invalid|inactive)",
    r"mailbox unavaiable|no mailbox (?:here|by that name|found)",
    r"not (?:a )?(?:valid|known|local) (?:user|recipient|mailbox|address)",
    r"is not a valid mailbox|not a valid recipient|no valid recipients",
    r"no account by that name|account (?:\S+ )?does not exist",
    r"recipient (?:address )?(?:is )?(?:invalid|unknown|not accepted|not local)",
    r"recipient not (?:ok|exist|found)|recipient does not exist",
    r"address (?:unknown|invalid|not present in directory|does not exist)",
    r"addressee unknown|destination addresses? (?:were|was) unknown",
    r"not listed in (?:public name|domino directory|the address book)",
    r"recipient name is not recognized|e-?mail account (?:that you tried to reach )?does not exist",
    r"no such person|there is no one at this address|badrcptto|validrcptto",
    r"no mail ?box (?:here|available)|mailbox not found|unknown e-?mail address",
    r"undeliverable address|user not (?:active|exist|found|known)",
    r"this user doesn't have a \S+ account|the user's email name is not found",
    r"no existe (?:dicha persona|ese usuario)|utilisateur inconnu|nessun utente simile",
    r"weil die adresse nicht gefunden wurde",
    r"resolver\.adr\.recipientnotfound|recipientnotfound",
    r"requested action not taken: mailbox unavailable",
    r"sorry, no mailbox here by that name|user missing home directory",
    r"this address no longer exists|address no longer valid|is not a known user",
    r"vdeliver: invalid or unknown virtual user",
    r"<[^>\s]+>(?:\.\.\.)? (?:not found|unknown)",
)
FILTERED = words(
    r"message filtered",
    r"user refuses to receive",
    r"user reject",
    r"refused due to recipient preferences",
    r"blocked by the recipient",
    r"only accepting mail from specific",
    r"is not accepting any mail",
    r"account is protected by",
    r"recipient id refuse",
    r"has restricted sms",
    r"bounced address",
)
REQUIRE_PTR = words(
    r"\bptr\b",
    r"reverse (?:dns|lookup|hostname|address|name)",
    r"\brdns\b|\bfcrdns\b",
    r"cannot find your (?:reverse )?hostname",
    r"(?:ip|host) name lookup failed",
    r"cannot resolve your (?:address|hostname|ip)",
    r"unresolvable (?:address|hostname|relay host)",
    r"client host .{0,60}(?:has no|without|missing) (?:a )?(?:valid )?(?:ptr|hostname|rdns)",
    r"no dns (?:a-)?record for",
)
NOT_COMPLIANT = words(
    r"\brfc ?(?:2822|5322|822|1035|5321|2821)\b",
    r"not (?:rfc[- ]?)?compliant",
    r"duplicate (?:header|message-id)",
    r"header (?:is )?(?:missing|malformed|invalid)",
    r"(?:multiple|duplicate) [\w-]+ headers?",
    r"message (?:is )?not (?:rfc|standards)",
    r"line too long|bare (?:lf|cr)",
)
BAD_REPUTATION = words(r"(?:poor|low|bad) reputation", r"ip reputation", r"sender score")
CONTENT_ERROR = words(
    r"improper use of 8-bit data",
    r"invalid (?:mime|character|charset|header)",
    r"illegal (?:characters?|header)",
    r"message (?:header|content) (?:is )?(?:too long|malformed|rejected)",
)
REJECTED = words(
    r"sender (?:address )?(?:rejected|denied|refused|not allowed|blocked|verify failed)",
    r"(?:domain of )?sender address (?:rejected|is not|does not)",
    r"sender (?:domain )?(?:must exist|not found|unknown|invalid)",
    r"(?:invalid|bad|unknown|unverified|unauthori[sz]ed) sender",
    r"sender verification (?:failed|required)|address verification failed",
    r"envelope (?:sender|from) (?:rejected|invalid|domain)",
    r"return path (?:invalid|rejected)",
    r"you are not allowed to post|not a member|not allowed to send to this (?:group|list)",
    r"your envelope sender (?:has been|is) denied|mail from .{0,40}rejected",
)
HOST_UNKNOWN = words(
    r"host (?:or domain name )?(?:unknown|not found)",
    r"unknown (?:host|domain)",
    r"domain (?:name )?(?:does not exist|not found|is not reachable|must exist|unknown)",
    r"no such (?:domain|host)",
    r"\bhost [a-z0-9-]+(?:\.[a-z0-9-]+)+ not found",
    r"name or service not known",
    r"unroutable|unrouteable|unable to route",
    r"mail domain mentioned in email address is unknown",
    r"recipient (?:address )?rejected: unknown domain",
    r"recipient domain must exist",
    r"the account or domain may not exist",
    r"nxdomain",
    r"(?:dns|domain) (?:lookup )?(?:failed|error)(?: for)? [^.]{0,40}(?:host|domain)",
    r"bad destination (?:system|host)",
    r"\b553 [a-z0-9-]+(?:\.[a-z0-9-]+)+ does not exist",
)
SPAM = words(
    r"\bspam\b|\bspams\b|spamming|\bjunk\b",
    r"unsolicited",
    r"bulk (?:e-?mail|mail) filter",
    r"classified as (?:bulk|junk|suspicious)",
    r"message (?:was )?(?:identified|detected|flagged|marked) as",
    r"content (?:filter|rejected|policy)",
    r"suspicious (?:content|message|url|link)",
    r"phishing",
)
SPEEDING = words(
    r"rate limit|ratelimit|rate-limit",
    r"too many (?:messages|e-?mails|mails|recipients|emails)",
    r"sending (?:too fast|rate)|throttl",
    r"exceeded (?:the )?(?:rate|sending|message) limit",
    r"too many (?:mails|messages) (?:sent|from)",
)
TOO_MANY_CONN = words(
    r"too many (?:concurrent |simultaneous )?(?:connections|sessions|smtp sessions)",
    r"connection limit|too many connections from",
)
# Words that say the sending IP or host is refused, as opposed to the recipient.
LISTED = words(
    r"black ?list|block ?list|blocklisted|blacklisted|denylist",
    r"spamhaus|spamcop|sorbs|barracuda|dnsbl|\brbl\b|uceprotect|mailspike|abuseat",
    r"client host (?:\S+ )?rejected",
    r"banned sending ip|\bip\b[^.]{0,40}\b(?:blocked|banned|blacklisted)",
)
BLOCKED = words(
    r"black ?list|block ?list|blocklisted|blacklisted|denylist",
    r"\blisted (?:on|in|at|by)\b",
    r"spamhaus|spamcop|sorbs|barracuda|dnsbl|\brbl\b|uceprotect|mailspike|abuseat",
    r"\b(?:ip|host|server|network|client|connection)\b[^.]{0,40}"
    r"\b(?:blocked|denied|rejected|banned|refused|not allowed)",
    r"client host (?:\S+ )?rejected",
    r"access denied|connection refused|connection (?:rejected|not accepted)",
    r"(?:blocked|rejected|refused) (?:your |the )?(?:ip|host|connection|server)",
    r"dial-?up|dynamic ip|residential|not allowed to send (?:mail )?(?:from|through)",
    r"has been (?:temporarily )?(?:blocked|banned)",
    r"\bblocked\b",
)
POLICY = words(
    r"polic(?:y|ies)",
    r"prohibited|not permitted|not allowed|denied by",
    r"(?:message|mail) (?:was )?(?:rejected|refused) (?:due to|because|by)",
)
VIRUS = words(r"virus|malware|infected|trojan|worm|malicious")
SYSTEM_ERROR = words(
    r"system error|server error|internal error|local error",
    r"temporary (?:local )?(?:problem|failure)",
    r"mail loop|routing loop|loops back|too many hops|loop detected",
    r"out of memory|resources? (?:temporarily )?unavailable",
    r"queue file write error|service (?:not available|unavailable)",
    r"remote protocol error|protocol error",
    r"cannot (?:open|write|create)",
    r"duplicated message-id",
    r"timeout waiting|timed? ?out",
    r"connection (?:reset|closed|dropped|timed out|lost)",
)
NETWORK_ERROR = words(
    r"network (?:error|unreachable)|no route to host",
    r"could not connect|couldn't connect|unable to connect|connection (?:refused|failed)",
    r"name service error|temporary failure in name resolution|dns (?:lookup )?(?:error|failure)",
    r"no (?:answer|response) from|host is down|host unreachable",
    r"mx (?:lookup|record) (?:failed|error)",
)
SYSTEM_FULL = words(r"mail system full|system (?:disk )?full|out of (?:disk )?space|disk full")
NOT_ACCEPT = words(
    r"does not accept mail",
    r"null ?mx",
    r"no mx record found for domain",
    r"mail receiving disabled",
    r"name server: .{0,60}host not found",
    r"no route for current request",
    r"mx or srv record indicated no smtp service",
)
EXPIRED = words(
    r"(?:delivery )?time (?:limit )?(?:expired|exceeded)",
    r"retry (?:time|timeout) (?:not reached|exceeded)|retry timeout",
    r"has been (?:delayed|deferred|queued)|delivery (?:is )?delayed|message delayed",
    r"(?:could|will) not (?:be )?(?:send|sent|deliver)[^.]{0,30}"
    r"(?:for|after|in) (?:the )?(?:past )?\d",
    r"cannot send message for \d|giving up|gave up|too old|expired|still being retried",
    r"deferred|will (?:keep|continue) (?:on )?trying|will retry",
)
SECURITY = words(
    r"security|encryption|tls (?:required|negotiation)|starttls|certificate",
    r"authentication required|must (?:authenticate|be authenticated)",
)
SYNTAX = words(r"syntax error|unrecognized command|command not recognized|bad sequence")
MAILER_ERROR = words(r"x-unix|mailer error|procmail|command died|exit (?:code|status)|program")
VACATION = words(r"out of (?:the )?office|on vacation|auto(?:matic)?[- ]?reply")
# A name server's authoritative "no such host": permanent, whatever else a transcript says.
AUTHORITATIVE_NO_HOST = words(r"host unknown \(authoritative answer from name server\)")
TEMPORARY = words(r"\btemporar(?:y|ily)\b|\bpersistent\b|try again later|deferred")

# A status saying "no such user" is not believed when the words say something else.
NOT_USER_UNKNOWN = re.compile(
    "|".join(
        p.pattern
        for p in (LISTED, MAILBOX_FULL, HAS_MOVED, REJECTED, NOT_ACCEPT, FILTERED, SPEEDING)
    ),
    re.IGNORECASE,
)

# Wording that only a final mail store uses when it has no such mailbox: believed without
# knowing which SMTP command failed.
LOCAL_USER_UNKNOWN = words(
    r"recipient name is not recognized",
    r"not listed in (?:public name|domino directory|the address book)",
    r"sorry, no mailbox here by that name",
    r"user missing home directory",
    r"vdeliver: invalid or unknown virtual user",
    r"resolver\.adr\.recipientnotfound|recipient not found by smtp address lookup",
    r"delivery error: dd this user doesn't have a \S+ account",
    r"address couldn't be found\. check for typos",
    r"#?5\.1\.0 address rejected",
    r"invalid final delivery userid",
    r"recipient address rejected\. \(in reply to rcpt to command\)",
    r"unknown user: [^\s@]+@",
    r"destinataire invalide\. invalid recipient",
    r"requested action not taken: mailbox unavailable \(-?\d+:\d+:-?\d+\)",
    r"no valid recipients for this mm",
    r"mail\.local: unknown user",
)

# "<user@host>: User unknown": a server that names the address refuses that address.
ADDRESS_USER_UNKNOWN = words(
    r"<[^<>\s]+@[^<>\s]+>(?:\.\.\.|:)? ?(?:user unknown|unknown user)",
    r"remote server returned unknown recipient.{0,80}unknown user [^<>\s]+@",
)

# Postfix's relay report ("host mx[ip] said: ...") always names the command; without it
# the failure's stage is unknown.
RELAY_SAID = words(r"\bhost \S+ said:")
