"""A TLS handshake between a client and a server in one process, over memory BIOs: whether a
client trusting a CA accepts a server certificate, without sockets or a running server."""
from __future__ import annotations

import ssl
from pathlib import Path


def handshake(certificate_pem: Path, key_pem: Path, ca_file: Path, server_name: str) -> str:
    """The TLS version a client trusting ``ca_file`` agrees on with a server presenting this
    certificate as ``server_name``; ``ssl.SSLCertVerificationError`` when the client refuses it."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(certificate_pem, key_pem)
    client = ssl.create_default_context(cafile=str(ca_file))
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    tls_client = client.wrap_bio(c_in, c_out, server_hostname=server_name)
    tls_server = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        finished = True
        for end, outgoing, peer_incoming in ((tls_client, c_out, s_in), (tls_server, s_out, c_in)):
            try:
                end.do_handshake()
            except ssl.SSLWantReadError:
                finished = False
            peer_incoming.write(outgoing.read())
        if finished:
            return str(tls_client.version())
    raise AssertionError("handshake did not finish")
