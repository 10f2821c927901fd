"""A throw-away Dovecot IMAP server on 127.0.0.1: plain login from a passwd-file, a Maildir in
the test's temporary folder, no TLS. Needs Debian's dovecot-imapd (`apt-get install
dovecot-imapd`); tests skip with the reason when it is missing or will not start."""

from __future__ import annotations

import getpass
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

USER = "support"
PASSWORD = "imap-test-password"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Dovecot:
    """One Dovecot master process serving one mailbox."""

    def __init__(self, root: Path) -> None:
        binary = shutil.which("dovecot") or (
            "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
        )
        if binary is None:
            pytest.skip("dovecot is not installed (Debian: apt-get install dovecot-imapd)")
        self.binary = binary
        self.root = root
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.config = root / "dovecot.conf"
        self._write_config()

    def _write_config(self) -> None:
        mail = self.root / "Maildir"
        mail.mkdir(parents=True, exist_ok=True)
        (self.root / "home").mkdir(exist_ok=True)
        if os.geteuid() == 0:
            # Dovecot never reads mail as root, and its login processes never run as root.
            mail_user, internal, login = "dovecot", "dovecot", "dovenull"
            for name in (mail_user, login):
                try:
                    pwd.getpwnam(name)
                except KeyError:
                    pytest.skip(f"the system user {name!r} that dovecot-imapd creates is missing")
            for folder in (mail, self.root / "home"):
                shutil.chown(folder, mail_user, mail_user)
            _let_others_through(self.root)
        else:
            mail_user = internal = login = getpass.getuser()
        account = pwd.getpwnam(mail_user)
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n", encoding="utf-8")
        self.config.write_text(
            f"""
protocols = imap
listen = 127.0.0.1
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {internal}
default_internal_group = {internal}
default_login_user = {login}
mail_location = maildir:{mail}
first_valid_uid = {account.pw_uid}
first_valid_gid = {account.pw_gid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.root}/passwd
}}
userdb {{
  driver = static
  args = uid={account.pw_uid} gid={account.pw_gid} home={self.root}/home
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
""",
            encoding="utf-8",
        )

    def start(self) -> None:
        shutil.rmtree(self.root / "run", ignore_errors=True)
        (self.root / "run").mkdir()
        self.process = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as probe:
                    if probe.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        log = (self.root / "dovecot.log").read_text(errors="replace")[-800:]
        self.stop()
        pytest.skip(f"dovecot did not start on 127.0.0.1:{self.port}: {log.strip()}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None


def _let_others_through(folder: Path) -> None:
    """Give `folder` and its parents the search bit, so Dovecot's mail user reaches the Maildir
    inside pytest's private temporary folder (listing stays closed)."""
    for path in [folder, *folder.parents]:
        if path == Path("/") or path == Path("/tmp"):
            break
        path.chmod(path.stat().st_mode | 0o001)
