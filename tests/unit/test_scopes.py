"""A `prompt` key reads live prompts and nothing else: every use case that acts for a caller checks the scope first,
so no route, present or future, can forget it. The HTTP matrix (tests/e2e/test_http_tenancy.py) checks the routes."""

import ast
from pathlib import Path
from typing import Final

import pytest

APPLICATION: Final = Path(__file__).parents[2] / "application"
# What a prompt key may do: read the live prompt (with or without a watch) and ask who it is.
PROMPT_SCOPE: Final = frozenset({"get_live_prompt", "watch_live_prompt", "whoami"})
CHECKS: Final = frozenset({"ensure_manage_scope", "_ensure_handles_keys"})


def use_cases() -> list[tuple[str, ast.AsyncFunctionDef]]:
    """Public async functions of the application taking the dependencies and the caller (`deps`, `who`)."""
    found = []
    for module in sorted(APPLICATION.glob("*.py")):
        for node in ast.parse(module.read_text()).body:
            if not isinstance(node, ast.AsyncFunctionDef) or node.name.startswith("_"):
                continue
            if [arg.arg for arg in node.args.args[:2]] == ["deps", "who"]:
                found.append((f"{module.stem}.{node.name}", node))
    return found


def first_call(node: ast.AsyncFunctionDef) -> str | None:
    body = (
        node.body[1:]
        if isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
        else node.body
    )
    first = body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Call) and isinstance(first.value.func, ast.Name):
        return first.value.func.id
    return None


def test_the_use_cases_are_found() -> None:
    names = {name for name, _ in use_cases()}
    assert {"agents.create_agent", "labels.move_label_to", "tokens.mint_token", "blueprints.get_live_prompt"} <= names


@pytest.mark.parametrize(("name", "node"), use_cases(), ids=[name for name, _ in use_cases()])
def test_every_use_case_but_the_prompt_reads_checks_the_scope_first(name: str, node: ast.AsyncFunctionDef) -> None:
    if node.name in PROMPT_SCOPE:
        assert first_call(node) not in CHECKS
    else:
        assert first_call(node) in CHECKS, f"{name} must begin with ensure_manage_scope(who)"
