"""A private CA and a server certificate it signed, for TLS tests on loopback.

No system CA vouches for them: a client trusts the server only when it is
given ``ca_file``. Made by ``trustme``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class TlsFiles:
    ca_file: Path  # what a client trusts
    cert_file: Path  # the server's certificate chain, for 127.0.0.1 and localhost
    key_file: Path


def tls_files(directory: Path) -> TlsFiles:
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    ca.cert_pem.write_to_path(str(files.ca_file))
    for i, pem in enumerate(issued.cert_chain_pems):
        pem.write_to_path(str(files.cert_file), append=i > 0)
    issued.private_key_pem.write_to_path(str(files.key_file))
    return files
