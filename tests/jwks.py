"""An identity provider for tests: signing keys made fresh for each run (never committed), tokens signed with them,
and their JWKS served over HTTP on loopback by a thread, as a provider's key endpoint is."""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER: Final = "https://id.example.test/"
AUDIENCE: Final = "org-agents"


class SigningKeys:
    """An RSA and an EC P-256 key pair, with the public halves as a JWKS (kids `rsa-1` and `ec-1`)."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())

    def jwks(self) -> dict[str, Any]:
        rsa_jwk = RSAAlgorithm.to_jwk(self.rsa.public_key(), as_dict=True) | {"kid": "rsa-1", "use": "sig"}
        ec_jwk = ECAlgorithm.to_jwk(self.ec.public_key(), as_dict=True) | {"kid": "ec-1"}
        return {"keys": [rsa_jwk, ec_jwk]}

    def rs256(self, claims: dict[str, Any], *, kid: str = "rsa-1") -> str:
        return jwt.encode(claims, self.rsa, algorithm="RS256", headers={"kid": kid})

    def es256(self, claims: dict[str, Any], *, kid: str = "ec-1") -> str:
        return jwt.encode(claims, self.ec, algorithm="ES256", headers={"kid": kid})


def claims(
    org: str = "acme", user: str = "alice", role: str = "owner", *, expires_in: float = 600, **more: Any
) -> dict[str, Any]:
    """What a provider puts in a sign-in token: issuer, audience, organization, user, role, and an expiry from now."""
    now = int(time.time())
    return {"iss": ISSUER, "aud": AUDIENCE, "org": org, "sub": user, "role": role, "exp": now + int(expires_in)} | more


class JwksServer:
    """Serves `body` (JSON) with `status` at any path, in a thread, on 127.0.0.1; counts the requests it answered."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.status = 200
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                payload = json.dumps(server.body).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows what matters
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/.well-known/jwks.json"
        self._thread = threading.Thread(target=self._http.serve_forever, name="test JWKS server", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Closes the listening socket: from then on a fetch is refused, as from a provider that is down."""
        if self._thread.is_alive():
            self._http.shutdown()
            self._thread.join()
        self._http.server_close()


@contextmanager
def jwks_server(body: dict[str, Any]) -> Iterator[JwksServer]:
    server = JwksServer(body)
    server.start()
    try:
        yield server
    finally:
        server.stop()
