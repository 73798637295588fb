"""Tokens an organization manages: who may mint and revoke which, scopes, expiry, revocation by value, the checksum
that keeps junk away from storage, and coarse `last_used_at`; on both adapters."""

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any, cast
from uuid import UUID

import pytest

from application.agents import CreateAgent, ListAgents, create_agent, list_agents
from application.blueprints import (
    AddVersion,
    CompileVersion,
    GetLivePrompt,
    WatchLivePrompt,
    add_version,
    compile_version,
    watch_live_prompt,
)
from application.blueprints import get_live_prompt as fetch
from application.deps import Deps
from application.ports import TokenInfo, TokenStore
from application.tokens import (
    CreateToken,
    GetToken,
    ListOrgTokens,
    MintToken,
    RevokeSecret,
    RevokeToken,
    authenticate,
    cached_principal,
    create_token,
    get_org_token,
    list_org_tokens,
    mint_token,
    revoke_org_token,
    revoke_secret,
    whoami,
)
from domain.errors import RoleTooLow, ScopeTooNarrow, TokenNotFound
from domain.roles import Principal, Role, Scope
from domain.tokens import InvalidTokenRequest, is_secret, secret_hash
from tests.contract.conftest import CountedTokens, principal
from tests.contract.test_labels import until
from tests.doubles import T0, FixedClock
from tests.samples import shop_buddy

pytestmark = pytest.mark.anyio


def clock_of(deps: Deps) -> FixedClock:
    return cast("FixedClock", deps.clock)


async def test_owners_mint_any_role_admins_admins_and_members_members_none(deps: Deps) -> None:
    owner, admin, member = [await principal(deps, "acme", user, role) for user, role in _ROLES]
    for role in Role:
        assert (await mint_token(deps, owner, MintToken(user_id="x", role=role))).token.role is role
    for role in (Role.ADMIN, Role.MEMBER):
        assert (await mint_token(deps, admin, MintToken(user_id="x", role=role))).token.role is role

    with pytest.raises(RoleTooLow):
        await mint_token(deps, admin, MintToken(user_id="x", role=Role.OWNER))
    for role in Role:
        with pytest.raises(RoleTooLow):
            await mint_token(deps, member, MintToken(user_id="x", role=role))


_ROLES = (("ana", Role.OWNER), ("al", Role.ADMIN), ("mo", Role.MEMBER))


async def test_a_minted_key_carries_its_checksum_scope_name_and_expiry_and_the_org_it_was_minted_in(
    deps: Deps,
) -> None:
    owner = await principal(deps, "acme", "ana", Role.OWNER)
    expires = clock_of(deps).now() + timedelta(days=30)

    issued = await mint_token(
        deps, owner,
        MintToken(user_id="shop-runtime", role=Role.MEMBER, scope=Scope.PROMPT, name=" Shop runtime ",
                  expires_at=expires),
    )  # fmt: skip
    resolved = await authenticate(deps, issued.secret)

    assert is_secret(issued.secret)
    assert len(issued.secret) == len("oat_") + 43 + 6
    assert (issued.token.org_id, issued.token.org_name, issued.token.name) == (owner.org_id, "acme", "Shop runtime")
    assert resolved == Principal(
        org_id=owner.org_id, user_id="shop-runtime", role=Role.MEMBER, scope=Scope.PROMPT,
        token_id=issued.token.id, expires_at=expires,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("field", "changes"),
    [
        ("user_id", {"user_id": "  "}),
        ("user_id", {"user_id": "x" * 256}),
        ("user_id", {"user_id": "a\x00b"}),
        ("name", {"name": ""}),
        ("name", {"name": "n" * 101}),
        ("expires_at", {"expires_at": T0}),  # the clock's now: not in the future
    ],
)
async def test_a_bad_token_request_names_its_field_and_makes_nothing(
    deps: Deps, field: str, changes: dict[str, Any]
) -> None:
    owner = await principal(deps, "acme", "ana", Role.OWNER)
    cmd = MintToken(**({"user_id": "bo", "role": Role.MEMBER} | changes))

    with pytest.raises(InvalidTokenRequest) as refused:
        await mint_token(deps, owner, cmd)

    assert [v.field for v in refused.value.violations] == [field]
    assert len((await list_org_tokens(deps, owner, ListOrgTokens())).items) == 1  # the owner's own


async def test_an_expired_key_is_refused_at_its_expiry_even_from_memory_with_no_notice(deps: Deps) -> None:
    owner = await principal(deps, "acme", "ana", Role.OWNER)
    clock = clock_of(deps)
    issued = await mint_token(
        deps, owner, MintToken(user_id="bo", role=Role.MEMBER, expires_at=clock.now() + timedelta(seconds=60))
    )
    assert await authenticate(deps, issued.secret) is not None  # read, and kept in the live cache
    clock.advance(59)
    assert await authenticate(deps, issued.secret) is not None

    clock.advance(1)

    assert await authenticate(deps, issued.secret) is None
    assert cached_principal(deps, issued.secret) is None
    deps.live.tokens_changed()
    assert await authenticate(deps, issued.secret) is None  # and from storage


async def test_the_list_is_newest_first_in_pages_of_the_callers_organization_only(deps: Deps) -> None:
    owner = await principal(deps, "acme", "ana", Role.OWNER)
    await principal(deps, "globex", "gus", Role.OWNER)
    for n in range(4):
        clock_of(deps).advance()
        await mint_token(deps, owner, MintToken(user_id=f"u{n}", role=Role.MEMBER))

    first = await list_org_tokens(deps, owner, ListOrgTokens(limit=3))
    assert first.next_cursor is not None
    rest = await list_org_tokens(deps, owner, ListOrgTokens(limit=3, cursor=first.next_cursor))

    users = [token.user_id for token in [*first.items, *rest.items]]
    assert users == ["u3", "u2", "u1", "u0", "ana"]
    assert rest.next_cursor is None


async def test_a_token_of_another_organization_does_not_exist_for_the_caller(deps: Deps) -> None:
    owner = await principal(deps, "acme", "ana", Role.OWNER)
    foreign = await create_token(deps, CreateToken(org_name="globex", user_id="gus", role=Role.MEMBER))

    with pytest.raises(TokenNotFound):
        await get_org_token(deps, owner, GetToken(token_id=foreign.token.id))
    with pytest.raises(TokenNotFound):
        await revoke_org_token(deps, owner, RevokeToken(token_id=foreign.token.id))
    assert await authenticate(deps, foreign.secret) is not None


async def test_revoking_is_idempotent_and_admins_may_not_revoke_an_owners_key(deps: Deps) -> None:
    owner = await principal(deps, "acme", "ana", Role.OWNER)
    admin = await principal(deps, "acme", "al", Role.ADMIN)
    other_owner = await mint_token(deps, owner, MintToken(user_id="oz", role=Role.OWNER))
    member = await mint_token(deps, owner, MintToken(user_id="mo", role=Role.MEMBER))

    with pytest.raises(RoleTooLow):
        await revoke_org_token(deps, admin, RevokeToken(token_id=other_owner.token.id))
    first = await revoke_org_token(deps, admin, RevokeToken(token_id=member.token.id))
    clock_of(deps).advance()
    again = await revoke_org_token(deps, owner, RevokeToken(token_id=member.token.id))

    assert first.revoked_at is not None
    assert again.revoked_at == first.revoked_at
    assert await authenticate(deps, member.secret) is None
    assert await authenticate(deps, other_owner.secret) is not None


async def test_a_leaked_secret_is_revoked_by_its_value_alone(deps: Deps) -> None:
    owner = await principal(deps, "acme", "ana", Role.OWNER)
    leaked = await mint_token(deps, owner, MintToken(user_id="bo", role=Role.MEMBER))
    assert await authenticate(deps, leaked.secret) is not None

    revoked = await revoke_secret(deps, RevokeSecret(secret=leaked.secret))
    again = await revoke_secret(deps, RevokeSecret(secret=leaked.secret))

    assert revoked.id == leaked.token.id
    assert again.revoked_at == revoked.revoked_at
    assert await authenticate(deps, leaked.secret) is None


@pytest.mark.parametrize("secret", ["", "oat_short", "ghp_" + "x" * 49, "oat_" + "x" * 49, "oat_" + "x" * 44])
async def test_revoking_text_that_is_not_a_secret_of_ours_is_refused_naming_the_field(deps: Deps, secret: str) -> None:
    with pytest.raises(InvalidTokenRequest) as refused:
        await revoke_secret(deps, RevokeSecret(secret=secret))

    assert [v.field for v in refused.value.violations] == ["secret"]


async def test_revoking_a_well_formed_secret_nobody_holds_is_not_found(deps: Deps) -> None:
    with pytest.raises(TokenNotFound):
        await revoke_secret(deps, RevokeSecret(secret="oat_" + "x" * 43))


async def test_a_token_issued_before_the_checksum_keeps_working(deps: Deps) -> None:
    owner = await principal(deps, "acme", "ana", Role.OWNER)
    legacy = "oat_" + "L" * 43  # as `token create` made them: the prefix and 43 characters
    info = TokenInfo(
        id=UUID(int=9000), org_id=owner.org_id, org_name="acme", user_id="old", role=Role.ADMIN,
        created_at=clock_of(deps).now(),
    )  # fmt: skip
    await deps.tokens.issue(info, secret_hash(legacy))

    resolved = await authenticate(deps, legacy)

    assert resolved is not None
    assert (resolved.user_id, resolved.scope) == ("old", Scope.MANAGE)


async def test_junk_credentials_cost_no_lookup(deps: Deps) -> None:
    issued = await create_token(deps, CreateToken(org_name="acme", user_id="ana", role=Role.OWNER))
    lookups = 0
    resolve = deps.tokens.resolve

    async def counted(secret_hash: bytes) -> Principal | None:
        nonlocal lookups
        lookups += 1
        return await resolve(secret_hash)

    counted_deps = dataclasses.replace(deps, tokens=cast("TokenStore", CountedTokens(deps.tokens, counted)))
    body = issued.secret[4:47]
    wrong_checksum = issued.secret[:-1] + ("A" if issued.secret[-1] != "A" else "B")
    junk = ["oat_" + "x" * n for n in (1, 42, 44, 48, 50, 60)] + [wrong_checksum, "oat_" + body + "!" * 6, "a.b.c"]

    for _ in range(30):
        for text in junk:
            assert await authenticate(counted_deps, text) is None

    assert lookups == 0
    deps.live.tokens_changed()
    assert await authenticate(counted_deps, issued.secret) is not None
    assert lookups == 1


async def test_use_is_written_once_a_minute_at_most_after_the_request(deps: Deps) -> None:
    owner = await principal(deps, "acme", "ana", Role.OWNER)  # its own use is noted too
    issued = await mint_token(deps, owner, MintToken(user_id="bo", role=Role.MEMBER))
    assert (await get_org_token(deps, owner, GetToken(token_id=issued.token.id))).last_used_at is None
    used_at = clock_of(deps).advance()

    await authenticate(deps, issued.secret)
    await deps.live.chores_done()
    clock_of(deps).advance()
    await authenticate(deps, issued.secret)
    await deps.live.chores_done()

    token = await get_org_token(deps, owner, GetToken(token_id=issued.token.id))
    assert token.last_used_at == used_at


async def test_whoami_names_the_organization_the_key_its_scope_and_expiry(deps: Deps) -> None:
    owner = await principal(deps, "acme", "ana", Role.OWNER)
    expires = clock_of(deps).now() + timedelta(hours=1)
    issued = await mint_token(
        deps, owner, MintToken(user_id="rt", role=Role.MEMBER, scope=Scope.PROMPT, name="runtime", expires_at=expires)
    )
    runtime = await authenticate(deps, issued.secret)
    assert runtime is not None

    me = await whoami(deps, runtime)

    assert (me.org_id, me.org_name, me.user_id, me.role) == (owner.org_id, "acme", "rt", Role.MEMBER)
    assert (me.scope, me.token_id, me.token_name, me.expires_at) == (Scope.PROMPT, issued.token.id, "runtime", expires)


async def test_a_prompt_key_reads_the_live_prompt_and_nothing_else(deps: Deps) -> None:
    owner = await principal(deps, "acme", "ana", Role.OWNER)
    agent = await create_agent(deps, owner, CreateAgent(name="Shop Buddy"))
    version = await add_version(deps, owner, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
    await compile_version(deps, owner, CompileVersion(agent_id=agent.id, version_id=version.id, activate=True))
    issued = await mint_token(deps, owner, MintToken(user_id="rt", role=Role.OWNER, scope=Scope.PROMPT))
    runtime = await authenticate(deps, issued.secret)
    assert runtime is not None

    live = await fetch(deps, runtime, GetLivePrompt(agent_id=agent.id))

    assert live.blueprint_id == version.id
    with pytest.raises(ScopeTooNarrow):
        await list_agents(deps, runtime, ListAgents())
    with pytest.raises(ScopeTooNarrow):
        await create_agent(deps, runtime, CreateAgent(name="Nope"))
    with pytest.raises(ScopeTooNarrow):
        await mint_token(deps, runtime, MintToken(user_id="x", role=Role.MEMBER))


@pytest.mark.live_cache
async def test_a_watch_is_not_held_past_its_keys_expiry(deps: Deps) -> None:
    owner = await principal(deps, "acme", "ana", Role.OWNER)
    agent = await create_agent(deps, owner, CreateAgent(name="Shop Buddy"))
    version = await add_version(deps, owner, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
    await compile_version(deps, owner, CompileVersion(agent_id=agent.id, version_id=version.id, activate=True))
    soon = clock_of(deps).now() + timedelta(seconds=0.2)
    issued = await mint_token(
        deps, owner, MintToken(user_id="rt", role=Role.MEMBER, scope=Scope.PROMPT, expires_at=soon)
    )
    runtime = await authenticate(deps, issued.secret)
    assert runtime is not None
    await until(lambda: deps.live.attached, "the live cache follows changes")
    cmd = WatchLivePrompt(agent_id=agent.id, wait_s=60)

    held = await asyncio.wait_for(watch_live_prompt(deps, runtime, cmd, lambda live: True), timeout=10)

    assert held.blueprint_id == version.id  # answered unchanged when the key expired, not after a minute
