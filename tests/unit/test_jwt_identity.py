import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, NamedTuple

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwt.algorithms import RSAAlgorithm

from adapters.jwt_identity import (
    RETRY_AFTER_FAILURE_S,
    UNKNOWN_KID_COOLDOWN_S,
    ClaimNames,
    InvalidKeySet,
    JwtIdentity,
    KeySet,
    RemoteKeySet,
    SharedSecret,
)
from application.ports import IdentityClaims
from domain.roles import Role
from tests.jwks import AUDIENCE, ISSUER, JwksServer, SigningKeys, claims, jwks_server

pytestmark = pytest.mark.anyio

SECRET: Final = b"a shared secret of thirty-two bytes or more"


@pytest.fixture(scope="module")
def keys() -> SigningKeys:
    return SigningKeys()


def shared(secret: bytes = SECRET, **options: Any) -> JwtIdentity:
    return JwtIdentity(SharedSecret(secret), **options)


def key_set(keys: SigningKeys, tmp_path: Path, **options: Any) -> JwtIdentity:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(keys.jwks()))
    return JwtIdentity(KeySet.from_file(path), issuer=ISSUER, audience=AUDIENCE, **options)


def hs256(payload: dict[str, Any], secret: bytes = SECRET, **headers: Any) -> str:
    return jwt.encode(payload, secret, algorithm="HS256", headers=headers or None)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    """An HS256 token made by hand, for keys PyJWT rightly refuses to sign with (a public key as the secret)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


class Ticks:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- accepted ---------------------------------------------------------------------------------------------------


async def test_an_hs256_token_signed_with_the_shared_secret_gives_its_claims() -> None:
    payload = claims("acme", "alice", "admin")
    payload.pop("aud")

    found = await shared(leeway_s=30).verify(hs256(payload))

    expected_end = datetime.fromtimestamp(payload["exp"] + 30, UTC)  # refused from exp plus the leeway on
    assert found == IdentityClaims(org_name="acme", user_id="alice", role=Role.ADMIN, expires_at=expected_end)


async def test_rs256_and_es256_tokens_signed_with_keys_of_the_set_are_accepted(
    keys: SigningKeys, tmp_path: Path
) -> None:
    provider = key_set(keys, tmp_path)

    by_rsa = await provider.verify(keys.rs256(claims("acme", "alice", "owner")))
    by_ec = await provider.verify(keys.es256(claims("globex", "bob", "member")))

    assert by_rsa is not None
    assert (by_rsa.org_name, by_rsa.user_id, by_rsa.role) == ("acme", "alice", Role.OWNER)
    assert by_ec is not None
    assert (by_ec.org_name, by_ec.user_id, by_ec.role) == ("globex", "bob", Role.MEMBER)


async def test_the_claims_that_name_organization_user_and_role_are_configurable() -> None:
    names = ClaimNames(org="https://example.test/org", user="email", role="https://example.test/role")
    payload = {
        "exp": int(time.time()) + 60,
        "https://example.test/org": "acme",
        "email": "alice@acme.test",
        "https://example.test/role": "member",
        "org": "globex",  # the default names are not read any more
        "sub": "someone-else",
        "role": "owner",
    }

    found = await shared(claims=names).verify(hs256(payload))

    assert found is not None
    assert (found.org_name, found.user_id, found.role) == ("acme", "alice@acme.test", Role.MEMBER)


async def test_a_token_expired_within_the_leeway_is_still_accepted() -> None:
    payload = claims(expires_in=-10)
    payload.pop("aud")

    assert await shared(leeway_s=30).verify(hs256(payload)) is not None
    assert await shared(leeway_s=0).verify(hs256(payload)) is None


async def test_a_token_whose_audience_list_contains_ours_is_accepted() -> None:
    token = hs256(claims(aud=["another-app", AUDIENCE]))

    assert await shared(audience=AUDIENCE).verify(token) is not None


class FromNow(NamedTuple):
    """A time relative to when the test runs (parameters are made when the suite is collected, minutes earlier)."""

    s: int


# -- refused ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("why", "changes"),
    [
        ("expired", {"exp": FromNow(-120)}),
        ("not yet valid", {"nbf": FromNow(120)}),
        ("issued in the future", {"iat": FromNow(120)}),
        ("another issuer", {"iss": "https://evil.example.test/"}),
        ("another audience", {"aud": "another-app"}),
        ("an audience list without ours", {"aud": ["another-app", "a-third"]}),
        ("no organization", {"org": None}),
        ("no user", {"sub": None}),
        ("no role", {"role": None}),
        ("a role that is not ours", {"role": "superuser"}),
        ("a role in the wrong case", {"role": "Owner"}),
        ("a list of roles", {"role": ["owner"]}),
        ("an organization that is not a string", {"org": 42}),
        ("a user that is not a string", {"sub": 7}),
        ("an expiry that is not a number", {"exp": "soon"}),
        ("an expiry past year 9999", {"exp": 10**12}),
    ],
)
async def test_a_token_whose_claims_do_not_hold_is_refused(
    keys: SigningKeys, tmp_path: Path, why: str, changes: dict[str, Any]
) -> None:
    payload = claims() | {
        name: int(time.time()) + value.s if isinstance(value, FromNow) else value for name, value in changes.items()
    }
    payload = {name: value for name, value in payload.items() if value is not None}
    provider = key_set(keys, tmp_path, leeway_s=30)
    assert await provider.verify(keys.rs256(claims())) is not None  # the same token, unchanged, passes

    assert await provider.verify(keys.rs256(payload)) is None, why


@pytest.mark.parametrize("missing", ["exp", "iss", "aud"])
async def test_a_token_without_exp_or_a_configured_iss_or_aud_is_refused(
    keys: SigningKeys, tmp_path: Path, missing: str
) -> None:
    payload = claims()
    del payload[missing]

    assert await key_set(keys, tmp_path).verify(keys.rs256(payload)) is None


async def test_without_an_audience_configured_a_token_meant_for_one_is_refused() -> None:
    payload = claims()

    assert await shared().verify(hs256(payload)) is None
    payload.pop("aud")
    assert await shared().verify(hs256(payload)) is not None


async def test_a_token_signed_with_another_secret_or_key_is_refused(keys: SigningKeys, tmp_path: Path) -> None:
    other = SigningKeys()
    payload = claims()
    payload.pop("aud")

    assert await shared().verify(hs256(payload, b"another secret, also thirty-two bytes long")) is None
    provider = key_set(keys, tmp_path)
    assert await provider.verify(other.rs256(claims())) is None  # the kid is right, the key is not
    assert await provider.verify(other.es256(claims())) is None
    assert await provider.verify(keys.rs256(claims(), kid="rsa-2")) is None  # a key the set does not have
    assert await provider.verify(jwt.encode(claims(), keys.rsa, algorithm="RS256")) is None  # no kid at all


async def test_a_token_with_alg_none_is_refused(keys: SigningKeys, tmp_path: Path) -> None:
    payload = claims()
    unsigned = f"{b64(json.dumps({'alg': 'none', 'kid': 'rsa-1'}).encode())}.{b64(json.dumps(payload).encode())}"

    for provider in (key_set(keys, tmp_path), shared(audience=AUDIENCE, issuer=ISSUER)):
        assert await provider.verify(unsigned + ".") is None
        assert await provider.verify(unsigned + "." + b64(b"anything")) is None


async def test_an_hs256_token_keyed_with_the_rsa_public_key_is_refused(keys: SigningKeys, tmp_path: Path) -> None:
    public_pem = keys.rsa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    jwk_n = keys.jwks()["keys"][0]["n"].encode()
    provider = key_set(keys, tmp_path)

    for secret in (public_pem, jwk_n):  # what a verifier that trusts the token's `alg` would key the HMAC with
        assert await provider.verify(forged({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}, claims(), secret)) is None


async def test_an_rs256_token_is_refused_by_a_deployment_with_a_shared_secret(keys: SigningKeys) -> None:
    payload = claims()
    payload.pop("aud")

    assert await shared().verify(keys.rs256(payload)) is None


async def test_a_symmetric_key_published_in_a_set_verifies_nothing(keys: SigningKeys, tmp_path: Path) -> None:
    secret = b"a symmetric key nobody should publish"
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{"kty": "oct", "k": b64(secret), "kid": "sym"}, *keys.jwks()["keys"]]}))
    provider = JwtIdentity(KeySet.from_file(path), issuer=ISSUER, audience=AUDIENCE)

    assert await provider.verify(hs256(claims(), secret, kid="sym")) is None


async def test_a_short_rsa_key_in_the_set_verifies_nothing(tmp_path: Path) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (what is refused here)
    path = tmp_path / "jwks.json"
    jwk = RSAAlgorithm.to_jwk(weak.public_key(), as_dict=True) | {"kid": "weak"}
    path.write_text(json.dumps({"keys": [jwk]}))
    provider = JwtIdentity(KeySet.from_file(path), issuer=ISSUER, audience=AUDIENCE)

    with pytest.warns(jwt.InsecureKeyLengthWarning):
        token = jwt.encode(claims(), weak, algorithm="RS256", headers={"kid": "weak"})
    assert await provider.verify(token) is None


PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
base64url = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1)


@PROPERTY
@given(header=base64url, payload=base64url, signature=base64url)
async def test_junk_shaped_as_a_jwt_is_refused_without_an_error(header: str, payload: str, signature: str) -> None:
    provider = shared(issuer=ISSUER)
    token = f"{header}.{payload}.{signature}"

    assert provider.accepts(token)
    assert await provider.verify(token) is None


@PROPERTY
@given(header=st.dictionaries(st.text(max_size=5), st.none() | st.integers() | st.text(max_size=5), max_size=4))
async def test_odd_headers_are_refused_without_an_error(header: dict[str, Any]) -> None:
    token = forged(header, claims(), SECRET)

    found = await shared(audience=AUDIENCE).verify(token)

    assert found is None or header.get("alg") == "HS256"  # only a well-formed HS256 header can pass


# -- shape ------------------------------------------------------------------------------------------------------


def test_accepts_answers_for_the_shape_of_a_jwt_only(keys: SigningKeys) -> None:
    provider = shared()

    assert provider.accepts(keys.rs256(claims()))
    assert provider.accepts("a.b.c")
    for junk in (
        "oat_" + "x" * 49,
        "a.b",
        "a.b.c.d",
        "a..c",
        ".b.c",
        "a.b.",
        "a.b.c=",
        "a.b+c.d",
        "a b.c.d",
        "",
    ):
        assert not provider.accepts(junk), junk
    assert not provider.accepts("a.b." + "c" * 8192)


# -- key sources ------------------------------------------------------------------------------------------------


def test_a_shared_secret_shorter_than_the_hash_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        SharedSecret(b"short")


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "cannot read"),
        ("not json", "not JSON"),
        ("[]", "not a JWKS"),
        ('{"keys": []}', "did not contain any keys"),
        ('{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "sym"}]}', "no RS256 or ES256"),
    ],
)
def test_an_unusable_jwks_file_is_refused_with_the_reason(tmp_path: Path, content: str | None, says: str) -> None:
    path = tmp_path / "jwks.json"
    if content is not None:
        path.write_text(content)

    with pytest.raises(InvalidKeySet, match=says):
        KeySet.from_file(path)


async def test_a_jwks_url_is_fetched_once_and_its_keys_kept(keys: SigningKeys) -> None:
    ticks = Ticks()
    with jwks_server(keys.jwks()) as server:
        provider = JwtIdentity(RemoteKeySet(server.url, monotonic=ticks), issuer=ISSUER, audience=AUDIENCE)

        assert await provider.verify(keys.rs256(claims(user="alice"))) is not None
        assert await provider.verify(keys.es256(claims(user="bob"))) is not None
        assert server.requests == 1

        ticks.now += 301  # past the keys' lifespan: asked again
        assert await provider.verify(keys.rs256(claims(user="carol"))) is not None
        assert server.requests == 2


async def test_an_unknown_kid_refetches_the_set_at_most_once_per_cooldown(keys: SigningKeys) -> None:
    ticks = Ticks()
    rotated = SigningKeys()
    with jwks_server(keys.jwks()) as server:
        provider = JwtIdentity(RemoteKeySet(server.url, monotonic=ticks), issuer=ISSUER, audience=AUDIENCE)
        assert await provider.verify(keys.rs256(claims())) is not None

        new_key = rotated.rs256(claims(), kid="rsa-2")
        assert await provider.verify(new_key) is None  # fetched a moment ago: not asked again
        assert server.requests == 1

        server.body = {"keys": [*keys.jwks()["keys"], rotated.jwks()["keys"][0] | {"kid": "rsa-2"}]}
        ticks.now += UNKNOWN_KID_COOLDOWN_S
        assert await provider.verify(new_key) is not None  # the provider rotated: the new key is fetched
        assert server.requests == 2


async def test_a_jwks_url_that_fails_refuses_tokens_and_is_not_asked_again_at_once(keys: SigningKeys) -> None:
    ticks = Ticks()
    token = keys.rs256(claims())
    with jwks_server(keys.jwks()) as server:
        provider = JwtIdentity(RemoteKeySet(server.url, monotonic=ticks), issuer=ISSUER, audience=AUDIENCE)
        server.status = 500

        assert await provider.verify(token) is None
        assert await provider.verify(token) is None
        assert server.requests == 1  # the second refusal cost no request

        server.status = 200
        ticks.now += RETRY_AFTER_FAILURE_S
        assert await provider.verify(token) is not None
        assert server.requests == 2


@pytest.mark.parametrize("body", [{"keys": "none"}, {"no": "keys"}, {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}])
async def test_a_jwks_url_that_answers_no_usable_set_refuses_tokens(keys: SigningKeys, body: dict[str, Any]) -> None:
    with jwks_server(body) as server:
        provider = JwtIdentity(RemoteKeySet(server.url), issuer=ISSUER, audience=AUDIENCE)

        assert await provider.verify(keys.rs256(claims())) is None
        assert server.requests == 1


async def test_a_jwks_url_that_is_down_refuses_tokens(keys: SigningKeys) -> None:
    server = JwksServer(keys.jwks())
    server.stop()  # never started: nothing listens on its port any more
    provider = JwtIdentity(RemoteKeySet(server.url), issuer=ISSUER, audience=AUDIENCE)

    assert await provider.verify(keys.rs256(claims())) is None
