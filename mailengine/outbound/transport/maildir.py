"""Writing messages into a Maildir: into tmp/, then renamed into new/ (never half a file).

Shared by the file transport and the capture server, so a message looks the same whichever
way it arrived: the envelope goes in front as Return-Path, X-Envelope-From and X-Envelope-To
(trace headers outside any DKIM signature), one `.eml` file per message.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import Sequence
from pathlib import Path

_counter = itertools.count()


class MaildirWriter:
    """Delivers into `<directory>/new`; creates tmp/, new/ and cur/ when missing."""

    def __init__(self, directory: Path, *, fsync: bool = False) -> None:
        self.directory = Path(directory)
        self.fsync = fsync
        for sub in ("tmp", "new", "cur"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        self._host = socket.gethostname().replace("/", "\\057").replace(":", "\\072")

    def unique_name(self) -> str:
        """`<seconds>.M<micro>P<pid>Q<n>.<host>.eml`, unique per process and moment."""
        now = time.time()
        seconds, micros = int(now), int((now % 1) * 1_000_000)
        return f"{seconds}.M{micros}P{os.getpid()}Q{next(_counter)}.{self._host}.eml"

    def deliver(self, mail_from: str, rcpt_tos: Sequence[str], data: bytes) -> Path:
        """Write one message; returns its path in new/. Blocking: call it from a thread."""
        trace = (
            f"Return-Path: <{mail_from}>\r\n"
            f"X-Envelope-From: <{mail_from}>\r\n"
            f"X-Envelope-To: {', '.join(f'<{rcpt}>' for rcpt in rcpt_tos)}\r\n"
        ).encode("utf-8", "surrogateescape")
        name = self.unique_name()
        temporary = self.directory / "tmp" / name
        with open(temporary, "xb") as file:
            file.write(trace)
            file.write(data)
            if self.fsync:
                file.flush()
                os.fsync(file.fileno())
        final = self.directory / "new" / name
        os.rename(temporary, final)
        return final
