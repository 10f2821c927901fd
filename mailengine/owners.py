"""Who holds a claim: an owner identity naming the host and the process, and whether that
owner still runs. Shared vocabulary: dispatchers name the holders of outbox claims with it,
broadcast planners the holders of planning claims. It imports nothing of mailengine.

An owner reads `host:pid:nonce`. `host` is the machine's name and a short digest of its boot
and process namespace (two containers that share a name but not their processes differ in
it); `nonce` begins with the process's start time in clock ticks since boot, so a later
process that got the same pid is told apart from the owner the pid once named. Whether an
owner on this host still runs is read from /proc (a zombie has ended); for an owner
elsewhere it is unknown, and its claims come back when their lease runs out.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_PROC = Path("/proc")
_ENDED_STATES = frozenset("ZXx")  # zombie, dead


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    started: int | None  # clock ticks since boot; None when not known


def owner_identity() -> str:
    """A new identity for a claimant in this process (at most 64 characters)."""
    pid = os.getpid()
    started = _start_ticks(pid) or 0
    return f"{this_host()}:{pid}:{started:x}.{secrets.token_hex(3)}"


@cache
def this_host() -> str:
    """This machine's name (shortened) and a digest of its boot and pid namespace."""
    name = socket.gethostname().replace(":", "-")[:24] or "localhost"
    boot = _read(_PROC / "sys/kernel/random/boot_id")
    try:
        space = os.readlink("/proc/self/ns/pid")
    except OSError:
        space = ""
    digest = hashlib.sha256(f"{name}|{boot}|{space}".encode()).hexdigest()[:8]
    return f"{name}/{digest}"


def parse_owner(text: str) -> Owner | None:
    """The owner an identity names, or None for one not made by `owner_identity`."""
    host, _, rest = text.partition(":")
    pid_text, _, nonce = rest.partition(":")
    if not host or not pid_text.isdigit() or not nonce:
        return None
    try:
        started = int(nonce.partition(".")[0], 16) or None
    except ValueError:
        started = None
    return Owner(host, int(pid_text), started)


def owner_running(identity: str) -> bool | None:
    """True while the owner runs, False once it has ended; None when that cannot be known
    here (another host, or an identity of another kind)."""
    owner = parse_owner(identity)
    if owner is None or owner.host != this_host():
        return None
    if not (_PROC / "self/stat").exists():
        return _signalable(owner.pid)
    fields = _stat_fields(owner.pid)
    if fields is None or fields[0] in _ENDED_STATES:
        return False
    return owner.started is None or int(fields[19]) == owner.started


def _start_ticks(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields is not None else None


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat from its third field on (state first), or None if there is none."""
    text = _read(_PROC / str(pid) / "stat")
    return text.rpartition(")")[2].split() if text else None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _signalable(pid: int) -> bool:
    """Where there is no /proc: whether a process with this pid exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
