"""The web page for people: one HTML file and its hand-written CSS and JavaScript, served by the API's own process.

The page is one more client of the JSON API (`fetch` with the bearer token a person pastes); nothing here reads or
writes data. None of these routes is part of the API, so none is in the OpenAPI document. One script is not a file:
`/ui/domain.js` states the blueprint's sections, their required fields, the body limits, the change note's length,
the release labels' rules, the keys' roles, scopes and name length, the audit trail's actions and the webhooks'
events and limits, made from the constants the compiler, the API, domain/blueprints.py, domain/labels.py,
domain/roles.py, domain/tokens.py, domain/audit.py and domain/webhooks.py use, so the page cannot drift from them.
"""

from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import msgspec
from litestar import Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.enums import MediaType
from litestar.static_files import create_static_files_router

from application.pagination import DEFAULT_LIMIT, MAX_LIMIT
from domain.agents import MAX_NAME
from domain.audit import Action
from domain.blueprints import MAX_CONVERSATION_ID, MAX_MESSAGE
from domain.compiler import REQUIRED_FIELDS
from domain.document import OLD_ROW_COLUMNS, SECTIONS, FieldType, SectionShape
from domain.labels import LATEST, NAME_PATTERN, PRODUCTION
from domain.labels import MAX_NAME as MAX_LABEL_NAME
from domain.roles import Role, Scope
from domain.tokens import MAX_TOKEN_NAME
from domain.webhooks import MAX_ATTEMPTS, MAX_URL, ROTATION_GRACE, SUBSCRIBABLE
from domain.webhooks import MAX_DESCRIPTION as MAX_WEBHOOK_DESCRIPTION
from entrypoints.http.schemas import MAX_BLUEPRINT_BYTES, MAX_SMALL_BODY_BYTES

STATIC: Final = Path(__file__).parent / "static"
INDEX: Final = (STATIC / "index.html").read_bytes()  # read once: a missing file fails at import, not per request
JAVASCRIPT: Final = "text/javascript"  # as the static files router sends a .js file (Litestar adds the charset)

# The page runs only its own scripts and styles and talks only to this origin; forms never submit by themselves
# (the token field has no name and the page handles every submit), so a token can never land in a URL.
CONTENT_SECURITY_POLICY: Final = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
REVALIDATE: Final = CacheControlHeader(no_cache=True)  # small files: always revalidated, so an upgrade shows at once


@get("/", include_in_schema=False, sync_to_thread=False, cache_control=REVALIDATE)
def index() -> Response[bytes]:
    """The page; it routes itself after the `#` (`#/agents/<id>`), so this is its only HTML address."""
    return Response(INDEX, media_type=MediaType.HTML, headers=PAGE_HEADERS)


def domain_facts() -> dict[str, Any]:
    """What the page must agree with the server on: the sections in prompt order with their fields (type, required),
    the words the domain uses for shapes and types, the largest request bodies the API accepts, the longest change
    note a version takes, the names of the release labels the domain treats apart (production is the active
    version, latest is read-only), what a key may be (its roles, most powerful first, its scopes, the length of its
    user id and name), the actions the audit trail records and what a webhook may be (the events it may be told
    of, the length of its URL and description, how many attempts a delivery gets and how long a rotated secret
    still signs)."""
    return {
        "shapes": {shape.name: shape.value for shape in SectionShape},
        "types": {kind.name: kind.value for kind in FieldType},
        "sections": [
            {
                "key": section.name,
                "shape": section.shape.value,
                "fields": [
                    {
                        "key": name,
                        "type": kind.value,
                        "required": name in REQUIRED_FIELDS.get(section.name, ()),
                        "old_names": [old for old, new in section.old_names if new == name],
                    }
                    for name, kind in section.fields
                ],
                "text_item": section.text_item,  # a plain-string item is an item with this field (the old shape)
            }
            for section in SECTIONS
        ],
        "limits": {
            "blueprint_bytes": MAX_BLUEPRINT_BYTES,
            "small_body_bytes": MAX_SMALL_BODY_BYTES,
            "name_chars": MAX_NAME,
            "conversation_id_chars": MAX_CONVERSATION_ID,
            "page_size": DEFAULT_LIMIT,
            "max_page_size": MAX_LIMIT,
        },
        "change_note": {"max_chars": MAX_MESSAGE},  # counted in characters (code points), as Python counts
        "labels": {
            "production": PRODUCTION,
            "latest": LATEST,
            "name_pattern": NAME_PATTERN,
            "name_chars": MAX_LABEL_NAME,
        },
        "tokens": {
            "roles": [role.value for role in Role],
            "scopes": [scope.value for scope in Scope],
            "user_chars": MAX_NAME,
            "name_chars": MAX_TOKEN_NAME,
        },
        "activity": {"actions": [action.value for action in Action]},
        "webhooks": {
            "events": [kind.value for kind in SUBSCRIBABLE],
            "url_chars": MAX_URL,
            "description_chars": MAX_WEBHOOK_DESCRIPTION,
            "max_attempts": MAX_ATTEMPTS,
            "rotation_grace_hours": ROTATION_GRACE // timedelta(hours=1),
        },
        "old_row_columns": list(OLD_ROW_COLUMNS),  # read as the old system's agent row (docs/blueprint-shapes.md)
    }


def domain_module(facts: dict[str, Any]) -> bytes:
    """An ES module exporting `facts` as frozen constants, stated once as the JSON after `const DOMAIN = `."""
    data = msgspec.json.format(msgspec.json.encode(facts), indent=2).decode()
    return "\n".join(
        [
            "// Made by the server from domain/document.py (SECTIONS), domain/compiler.py (REQUIRED_FIELDS),",
            "// domain/blueprints.py (MAX_MESSAGE), domain/labels.py, domain/roles.py, domain/tokens.py,",
            "// domain/audit.py, domain/webhooks.py and the constants of the limits",
            "// (entrypoints/http/ui/__init__.py names them):",
            "// change those, not this.",
            "",
            f"const DOMAIN = {data};",
            "",
            "const freeze = (value) => {",
            '  if (value && typeof value === "object") Object.values(value).forEach(freeze);',
            "  return Object.freeze(value);",
            "};",
            "freeze(DOMAIN);",
            "",
            "/** Section shapes and field types, in the domain's words: {OBJECT, LIST} and {TEXT, TEXT_LIST}. */",
            "export const { shapes: SHAPES, types: TYPES } = DOMAIN;",
            "/** The sections in prompt order: [{key, shape, fields: [{key, type, required, old_names}], text_item}]",
            " * (text_item: what a plain-string item stands for; old_names: the old system's names of a field). */",
            "export const { sections: SECTIONS } = DOMAIN;",
            "/** The largest request bodies the API accepts, in bytes: {blueprint_bytes, small_body_bytes}. */",
            "export const { limits: LIMITS } = DOMAIN;",
            "/** A version's change note: {max_chars}, in characters (code points, not UTF-16 units). */",
            "export const { change_note: CHANGE_NOTE } = DOMAIN;",
            "/** Release labels: {production, latest} (their names) and a name's rule: {name_pattern, name_chars}. */",
            "export const { labels: LABELS } = DOMAIN;",
            "/** Keys: {roles (most powerful first), scopes, user_chars, name_chars}. */",
            "export const { tokens: TOKENS } = DOMAIN;",
            "/** The audit trail: {actions}, every action it records, in the API's words (label.move …). */",
            "export const { activity: ACTIVITY } = DOMAIN;",
            "/** Webhooks: {events (the subscribable types, in the API's order), url_chars, description_chars,",
            " * max_attempts (of a delivery's schedule), rotation_grace_hours (a rotated secret still signs)}. */",
            "export const { webhooks: WEBHOOKS } = DOMAIN;",
            "/** The old system's agent row: the top-level keys the compiler reads as its columns. */",
            "export const { old_row_columns: OLD_ROW_COLUMNS } = DOMAIN;",
            "",
        ]
    ).encode()


DOMAIN_MODULE: Final = domain_module(domain_facts())  # made once: the constants cannot change while the app runs


@get("/ui/domain.js", include_in_schema=False, sync_to_thread=False, cache_control=REVALIDATE)
def domain_script() -> Response[bytes]:
    """The domain's facts as the page imports them (`import { SECTIONS } from "./domain.js"`)."""
    return Response(DOMAIN_MODULE, media_type=JAVASCRIPT, headers={"X-Content-Type-Options": "nosniff"})


def _nosniff(response: Response[object]) -> Response[object]:
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


assets = create_static_files_router(
    path="/ui",
    directories=[STATIC],
    name="ui",
    include_in_schema=False,
    cache_control=REVALIDATE,
    after_request=_nosniff,
)

ui = Router(path="/", route_handlers=[index, domain_script, assets], include_in_schema=False)
