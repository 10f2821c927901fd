"""Owner identities: this host's processes are known alive or ended, a reused pid is told
apart, and an owner elsewhere (or of another kind) is never taken for ended."""

from __future__ import annotations

import os
import subprocess
import sys

from mailengine.owners import owner_identity, owner_running, parse_owner, this_host


def test_an_identity_names_this_host_and_process_and_fits_its_column() -> None:
    first, second = owner_identity(), owner_identity()
    assert first != second  # two dispatchers of one process are two holders
    owner = parse_owner(first)
    assert owner is not None
    assert (owner.host, owner.pid) == (this_host(), os.getpid())
    assert len(first) <= 64  # outbox.claimed_by
    assert owner_running(first) is True


def test_an_ended_process_is_known_ended() -> None:
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "from mailengine.owners import owner_identity as o; print(o())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    identity = child.stdout.strip()
    owner = parse_owner(identity)
    assert owner is not None
    assert owner.host == this_host()
    assert owner_running(identity) is False


def test_a_pid_now_used_by_another_process_is_not_its_old_owner() -> None:
    host, pid, nonce = owner_identity().split(":")
    started = int(nonce.partition(".")[0], 16)
    earlier_process = f"{host}:{pid}:{started - 1:x}.abcdef"  # same pid, another start
    assert owner_running(earlier_process) is False


def test_owners_elsewhere_or_of_another_kind_are_unknown_not_ended() -> None:
    assert owner_running(f"elsewhere/0123abcd:{os.getpid()}:1f.abcdef") is None
    assert owner_running("dispatcher-3f2a") is None
    assert owner_running("worker-1") is None
    assert parse_owner("host:notapid:nonce") is None
