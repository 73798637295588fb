"""The role the service's own connections use, where org-agents owns the server (the embedded one): a login role
that may read and write every table but owns none and may create nothing, so no statement the service sends can
change the schema. Migrations, and the CLI's other commands, keep the owner's connection.

Run after every migration (`serve` does, each start): it grants what the tables created since need, and default
privileges cover tables a `migrate` run by hand adds while a service runs.
"""

from typing import Final, LiteralString

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

SERVICE_ROLE: Final = "org_agents_service"
LOCK_KEY: Final = 0x6F7267_726F6C65  # "org" "role": two services starting at once create the role once

GRANTS: Final[tuple[LiteralString, ...]] = (
    "GRANT USAGE ON SCHEMA public TO {role}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
    "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}",
    "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
)


def service_role(owner_conninfo: str) -> str:
    """Makes the service's role (once), grants it the tables, and returns its conninfo: the owner's, as that user.
    The embedded server trusts local connections on its private socket, so the role needs no password."""
    role = sql.Identifier(SERVICE_ROLE)
    with psycopg.connect(owner_conninfo) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (SERVICE_ROLE,)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION").format(role))
        database = sql.Identifier(str(conninfo_to_dict(owner_conninfo).get("dbname") or "postgres"))
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(database, role))
        for grant in GRANTS:
            conn.execute(sql.SQL(grant).format(role=role))
    return make_conninfo(owner_conninfo, user=SERVICE_ROLE)
