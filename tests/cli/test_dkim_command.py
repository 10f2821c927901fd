"""`mailengine dkim` prints the TXT record for the configured key and checks the one a DNS
server publishes (here a small one on 127.0.0.1 that answers what each test sets)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.rcode
import dns.rrset
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from mailengine.outbound import DkimSigner
from tests.test_cli import run

NAME = "mail._domainkey.shop.example."


class TxtServer:
    """A UDP DNS server on 127.0.0.1 answering TXT questions for NAME with `records`."""

    def __init__(self) -> None:
        self.records: list[str] = []
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.1)
        self.port = int(self.socket.getsockname()[1])
        self.asked: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.socket.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            question = query.question[0]
            self.asked.append(question.name.to_text())
            response = dns.message.make_response(query)
            if question.name.to_text() != NAME or not self.records:
                response.set_rcode(dns.rcode.NXDOMAIN)
            else:
                strings = [
                    " ".join(f'"{record[i : i + 255]}"' for i in range(0, len(record), 255))
                    for record in self.records
                ]
                response.answer.append(dns.rrset.from_text(NAME, 300, "IN", "TXT", *strings))
            self.socket.sendto(response.to_wire(), peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.socket.close()


@pytest.fixture
def dns_server() -> Iterator[TxtServer]:
    server = TxtServer()
    yield server
    server.close()


def pem(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    key = tmp_path / "dkim.pem"
    key.write_bytes(pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    path = tmp_path / "config.yaml"
    path.write_text(
        "database:\n  url: sqlite:///var/test.db\n"
        "sender:\n  from_address: hello@shop.example\n"
        f"dkim:\n  enabled: true\n  selector: mail\n  private_key_file: {key}\n",
        encoding="utf-8",
    )
    return path


def signer_of(config: Path) -> DkimSigner:
    return DkimSigner.from_file("shop.example", "mail", config.parent / "dkim.pem")


def test_the_record_to_publish_is_printed_in_zone_form(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["--config", str(config), "dkim", "--no-check"], capsys)
    assert code == 0
    record = signer_of(config).dns_record()
    assert f"value: {record}" in out
    zone = next(line for line in out.splitlines() if line.startswith(NAME))
    assert zone.startswith(f"{NAME} 3600 IN TXT ( ")
    strings = zone.split("( ", 1)[1].rsplit(" )", 1)[0]
    parts = [part.strip('"') for part in strings.split('" "')]
    assert all(len(part) <= 255 for part in parts) and "".join(parts) == record
    assert "signing is on" in out and "published: not checked" in out


def test_the_published_record_is_checked(
    config: Path, dns_server: TxtServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--config", str(config), "dkim", "--nameserver", f"127.0.0.1:{dns_server.port}"]
    code, out, _ = run(argv, capsys)
    assert code == 1 and "published: missing" in out
    assert dns_server.asked == [NAME]

    dns_server.records = ["v=spf1 -all", signer_of(config).dns_record()]
    code, out, _ = run(argv, capsys)
    assert code == 0 and "published: matches" in out

    other = DkimSigner("shop.example", "mail", pem(ed25519.Ed25519PrivateKey.generate()))
    dns_server.records = [other.dns_record()]
    code, out, _ = run(argv, capsys)
    assert code == 1 and "published: differs" in out and "another key" in out


def test_without_a_key_it_says_how_to_make_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("database:\n  url: sqlite:///var/test.db\n", encoding="utf-8")
    code, _, err = run(["--config", str(config), "dkim"], capsys)
    assert code == 1
    assert "no DKIM key is configured" in err and "openssl genpkey" in err
