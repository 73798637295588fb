"""Tokens over HTTP: an organization's owners and admins create, list and revoke its keys; whoever holds a secret may
revoke it; any credential asks who it is. The rules are in application/tokens.py."""

from typing import Annotated, Any, Final
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import FromPath

from application.deps import Deps
from application.tokens import (
    GetToken,
    ListOrgTokens,
    MintToken,
    RevokeSecret,
    RevokeToken,
    get_org_token,
    list_org_tokens,
    mint_token,
    revoke_org_token,
    revoke_secret,
    whoami,
)
from domain.roles import Principal
from domain.tokens import BODY_LENGTH, SECRET_PREFIX
from entrypoints.http.auth import require_token
from entrypoints.http.errors import PROBLEMS
from entrypoints.http.params import Cursor, Limit, answer_options, strict_body, strictly
from entrypoints.http.schemas import IssuedTokenOut, RevokeSecretIn, TokenIn, TokenOut, TokensPage, WhoamiOut, to_out

RUNTIME_KEY_EXAMPLE: Final = {
    "user_id": "shop-runtime",
    "role": "member",
    "scope": "prompt",
    "name": "Shop Buddy runtime",
    "expires_at": "2027-06-30T00:00:00Z",
}
LEAKED_EXAMPLE: Final = {"secret": SECRET_PREFIX + "0" * BODY_LENGTH}  # shaped as a secret (before checksums were)
PUBLIC_PROBLEMS: Final = {status: PROBLEMS[status] for status in (400, 404, 408, 422, 429, 503)}


class TokenController(Controller):
    path = "/tokens"
    before_request = staticmethod(answer_options)
    tags = ("tokens",)

    @post(operation_id="createToken", responses=PROBLEMS, status_code=201)
    async def create_token(
        self,
        data: Annotated[TokenIn, strict_body(Example(summary="a runtime's key", value=RUNTIME_KEY_EXAMPLE))],
        request: Request[Any, Any, Any],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
    ) -> Response[IssuedTokenOut]:
        """A key for someone of the caller's organization; the secret is in this answer only. Owners create tokens of
        any role, admins of admins and members. Scope `prompt` makes a key that only reads live prompts (with or
        without `wait`) and `/whoami`: the one to give an LLM runtime. An expiry must lie in the future."""
        data = await strictly(request, TokenIn)
        issued = await mint_token(
            deps, principal,
            MintToken(user_id=data.user_id, role=data.role, scope=data.scope, name=data.name,
                      expires_at=data.expires_at),
        )  # fmt: skip
        return Response(
            to_out(issued, IssuedTokenOut), status_code=201, headers={"Location": f"/tokens/{issued.token.id}"}
        )

    @get(operation_id="listTokens", responses=PROBLEMS)
    async def list_tokens(
        self,
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
        limit: Limit = None,
        cursor: Cursor = None,
    ) -> TokensPage:
        """Every token of the organization, revoked ones too, newest first; never a secret. Owners and admins."""
        page = await list_org_tokens(deps, principal, ListOrgTokens(limit=limit, cursor=cursor))
        return to_out(page, TokensPage)

    @get("/{token_id:uuid}", operation_id="getToken", responses=PROBLEMS)
    async def get_token(
        self, token_id: FromPath[UUID], deps: NamedDependency[Deps], principal: NamedDependency[Principal]
    ) -> TokenOut:
        """One token of the organization; never its secret. Owners and admins."""
        return to_out(await get_org_token(deps, principal, GetToken(token_id=token_id)), TokenOut)

    @delete("/{token_id:uuid}", operation_id="revokeToken", responses=PROBLEMS, status_code=204)
    async def revoke_token(
        self, token_id: FromPath[UUID], deps: NamedDependency[Deps], principal: NamedDependency[Principal]
    ) -> None:
        """Revoke a token: it is refused on every instance within a second or so (at most the principal cache's
        lifetime if a notice is lost). Idempotent. Owners revoke any token, admins those of admins and members. The
        token stays readable, here and in the list, with its `revoked_at`."""
        await revoke_org_token(deps, principal, RevokeToken(token_id=token_id))


@post(
    "/tokens/revoke", operation_id="revokeTokenBySecret", tags=["tokens"], status_code=204, security=[],
    responses=PUBLIC_PROBLEMS,
)  # fmt: skip
async def revoke_by_secret(
    data: Annotated[RevokeSecretIn, strict_body(Example(summary="a leaked key", value=LEAKED_EXAMPLE))],
    request: Request[Any, Any, Any],
    deps: NamedDependency[Deps],
) -> None:
    """Revoke a leaked key by pasting it: no other credential is needed, since holding the secret already grants
    whatever it allows. 204 when it is revoked (now or before), 404 when no token has that secret, 422 when the text
    is not shaped as one of ours."""
    data = await strictly(request, RevokeSecretIn)
    await revoke_secret(deps, RevokeSecret(secret=data.secret))


@get(
    "/whoami", operation_id="whoami", tags=["operations"], guards=[require_token], security=[{"bearer": []}],
    responses={status: PROBLEMS[status] for status in (401, 429)},
)  # fmt: skip
async def who_am_i(request: Request[Any, Any, Any], deps: NamedDependency[Deps]) -> WhoamiOut:
    """Who the bearer credential stands for: the organization by id and name, the user, the role, the token's scope,
    id, name and expiry. Any credential, any scope: a quick check that a key works."""
    principal: Principal = request.state.principal
    return to_out(await whoami(deps, principal), WhoamiOut)
