"""Sends webhook requests: signed by `standardwebhooks` (the convention's reference library), sent by httpx.

The target's name is resolved here, at every attempt, and each of its addresses checked: unless the operator allows
private targets, a name that resolves to a loopback, private or link-local address is refused, and the request goes
to the address that was checked (the Host header and TLS's server name stay the URL's), so a DNS answer that changes
between the check and the connection (rebinding) cannot redirect it. Redirects are not followed; proxies from the
environment are not used (they would connect to a name this module did not check).
"""

import asyncio
import ipaddress
import socket
from datetime import datetime
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import httpx
from standardwebhooks import Webhook

from domain.webhooks import MAX_RESPONSE_EXCERPT, MAX_RESPONSE_READ, Outcome, is_public_address, retry_after_seconds

USER_AGENT: Final = "org-agents-webhooks/0.1"


def signature(message_id: str, timestamp: datetime, body: bytes, secrets: tuple[str, ...]) -> str:
    """The webhook-signature header: one `v1,<base64>` per secret, space-separated."""
    data = body.decode()
    return " ".join(Webhook(secret).sign(message_id, timestamp, data) for secret in secrets)


class RefusedTarget(Exception):
    pass


class HttpWebhookSender:
    def __init__(self, *, allow_private: bool, timeout_s: float) -> None:
        self._allow_private = allow_private
        self._timeout_s = timeout_s
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s), follow_redirects=False, trust_env=False,
            headers={"user-agent": USER_AGENT},
        )  # fmt: skip

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(
        self, url: str, *, message_id: str, timestamp: datetime, body: bytes, secrets: tuple[str, ...]
    ) -> Outcome:
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": signature(message_id, timestamp, body, secrets),
        }
        try:
            async with asyncio.timeout(self._timeout_s):
                targets, headers["host"] = await self._pinned(url)
                for number, target in enumerate(targets, 1):  # each checked address in turn, as a browser would
                    request = self._client.build_request(
                        "POST", target, content=body, headers=headers,
                        extensions={"sni_hostname": urlsplit(url).hostname or ""},
                    )  # fmt: skip
                    try:
                        response = await self._client.send(request, stream=True)
                        break
                    except httpx.ConnectError:
                        if number == len(targets):
                            raise
                try:
                    read = bytearray()
                    async for chunk in response.aiter_bytes():
                        read += chunk
                        if len(read) >= MAX_RESPONSE_READ:
                            break
                finally:
                    await response.aclose()
        except RefusedTarget as exc:
            return Outcome(error=str(exc))
        except TimeoutError:
            return Outcome(error=f"no answer within {self._timeout_s:g} s")
        except httpx.TimeoutException:
            return Outcome(error=f"no answer within {self._timeout_s:g} s")
        except httpx.HTTPError as exc:
            return Outcome(error=f"{type(exc).__name__}: {exc}"[:MAX_RESPONSE_EXCERPT])
        excerpt = bytes(read[: MAX_RESPONSE_EXCERPT * 4]).decode(errors="replace")[:MAX_RESPONSE_EXCERPT]
        return Outcome(
            status_code=response.status_code, response=excerpt,
            retry_after_s=retry_after_seconds(response.headers.get("retry-after")),
        )  # fmt: skip

    async def _pinned(self, url: str) -> tuple[list[str], str]:
        """The URL with its host replaced by each checked address of it (the resolver's order, each once), and the
        Host header to send."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise RefusedTarget(f"{host} does not resolve: {exc.strerror}") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in found]
        if not addresses:
            raise RefusedTarget(f"{host} does not resolve")
        if not self._allow_private:
            for address in addresses:
                if not is_public_address(address):
                    raise RefusedTarget(f"{host} resolves to {address}, a loopback, private or link-local address")
        targets = []
        for address in dict.fromkeys(addresses):
            literal = f"[{address}]" if address.version == 6 else str(address)
            targets.append(urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, "")))
        return targets, parts.netloc.rpartition("@")[2]
