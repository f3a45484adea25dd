"""Real TLS records between two Python ssl objects over memory BIOs (no sockets, no waiting).

`TlsChannel` runs an OpenSSL client and server in one process: the handshake
and every later write produce the exact records the library would put on a
socket, so ClientHello, SNI, ALPN, record sizes and TLS 1.3 tickets are real.
The captures place those bytes on simulated TCP connections at simulated
times (tests/gen/timeline.py), which is how hours of mining fit in a test.

Key material is random (TLS cannot be seeded), so the ciphertext differs
between generations; everything the detector measures (which records, their
sizes, the ClientHello fields) does not.

The server certificate is self-signed, made once per process with the
`cryptography` package (test extra), like many pools' certificates.
"""

import datetime
import functools
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@functools.cache
def self_signed_cert():
    """(cert path, key path) of a P-256 self-signed certificate in a temp dir."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "minewatch-test")])
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    folder = Path(tempfile.mkdtemp(prefix="minewatch-cert-"))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


class TlsChannel:
    """One TLS connection; `handshake()` and `send()` return the flights as (c2s, bytes)."""

    def __init__(self, sni=None, alpn=None, server_alpn=None, max_version=None):
        cert, key = self_signed_cert()
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(cert, key)
        if server_alpn:
            sctx.set_alpn_protocols(server_alpn)
        cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        cctx.check_hostname = False
        cctx.verify_mode = ssl.CERT_NONE
        if alpn:
            cctx.set_alpn_protocols(alpn)
        if max_version is not None:
            cctx.maximum_version = max_version
        self.bio = {True: (ssl.MemoryBIO(), ssl.MemoryBIO()),    # client: (in, out)
                    False: (ssl.MemoryBIO(), ssl.MemoryBIO())}   # server: (in, out)
        self.end = {True: cctx.wrap_bio(*self.bio[True], server_side=False,
                                        server_hostname=sni),
                    False: sctx.wrap_bio(*self.bio[False], server_side=True)}

    def _drain(self, c2s, flights):
        """Move what side `c2s` wrote to the other side; record it as a flight."""
        data = self.bio[c2s][1].read()
        if data:
            flights.append((c2s, data))
            self.bio[not c2s][0].write(data)
        return bool(data)

    def _read_all(self, c2s):
        out = b""
        while True:
            try:
                chunk = self.end[c2s].read(65536)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return out
            if not chunk:
                return out
            out += chunk

    def handshake(self):
        flights = []
        done = {True: False, False: False}
        for _ in range(20):
            for side in (True, False):
                if not done[side]:
                    try:
                        self.end[side].do_handshake()
                        done[side] = True
                    except ssl.SSLWantReadError:
                        pass
                moved = self._drain(side, flights)
                if done[side] and not moved:
                    self._read_all(side)      # tickets and the like
                    self._drain(side, flights)
            if done[True] and done[False] and not self.bio[True][1].pending \
                    and not self.bio[False][1].pending:
                self._read_all(True)
                if not self._drain(True, flights):
                    break
        assert done[True] and done[False], "TLS handshake did not finish"
        return flights

    @property
    def alpn(self):
        return self.end[True].selected_alpn_protocol()

    def send(self, c2s, data):
        """Write plaintext on one side; return the flights it causes (its records,
        and anything the other side writes back while reading them)."""
        flights = []
        self.end[c2s].write(data)
        self._drain(c2s, flights)
        got = self._read_all(not c2s)
        assert got == data, "TLS peer read back different bytes"
        self._drain(not c2s, flights)
        return flights
