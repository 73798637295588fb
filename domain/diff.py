"""What changed between two blueprint documents, in terms of their sections and named items.

A generic JSON diff compares lists by position, so one tool inserted at the top reads as a change of every tool
after it. A blueprint's lists of named items are matched by name instead (tools by `name`, capabilities by `task`,
integrations by `app`, knowledge sources by `source`): inserting a tool anywhere is one addition. Other lists (and a
named list whose names are missing or repeated) are aligned by content with the standard library's SequenceMatcher,
so an inserted example is one addition too. Changes are reported where they happen: a whole item or section added
or removed is one entry carrying it, a changed value inside is one entry at its own path. The unified diff of two
prompts is difflib's.
"""

import difflib
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, Final

import msgspec

from domain.document import SECTION_ORDER, SECTIONS

# The key each list of named items is matched by; top-level sections only, as the compiler reads them.
NAMED_BY: Final[Mapping[str, str]] = {
    "capabilities": "task",
    "tools": "name",
    "integrations": "app",
    "knowledge_sources": "source",
}
PROMPT_CONTEXT_LINES: Final = 3
FIELD_ORDER: Final[Mapping[str, tuple[str, ...]]] = {s.name: tuple(name for name, _ in s.fields) for s in SECTIONS}


class Op(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


class Change(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One difference: at `path` (`identity.role`, `tools[name=search].purpose`, `test_scenarios[2]`), what was
    there before (not for an addition) and what is there after (not for a removal)."""

    path: str
    op: Op
    before: Any = msgspec.UNSET
    after: Any = msgspec.UNSET


def document_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    """What changed from `before` to `after`, in the blueprint's order: sections as the prompt has them, fields as
    their section lists them, then any other key by name (storage need not keep a document's key order: jsonb does
    not). A document against itself is empty; swapping the two swaps additions with removals and before with
    after."""
    changes: list[Change] = []
    _diff_mapping(before, after, "", changes, known=SECTION_ORDER, top=True)
    return changes


def prompt_diff(before: str | None, after: str | None, *, before_name: str, after_name: str) -> str | None:
    """A unified diff of two prompts; None when either is missing (a version that does not compile)."""
    if before is None or after is None:
        return None
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), fromfile=before_name, tofile=after_name,
        n=PROMPT_CONTEXT_LINES,
    )  # fmt: skip
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def _same(a: object, b: object) -> bool:
    """Equal as JSON values: 1 and 1.0 are the same number, but true is not 1 (Python says it is)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _diff(before: object, after: object, path: str, out: list[Change], fields: tuple[str, ...] = ()) -> None:
    """`fields`: the keys of this object in the order they are shown, when it is a section or a section's item."""
    if _same(before, after):
        return
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        _diff_mapping(before, after, path, out, known=fields, top=False)
    elif isinstance(before, list) and isinstance(after, list):
        _diff_positional(before, after, path, out, fields)
    else:
        out.append(Change(path=path, op=Op.CHANGED, before=before, after=after))


def _ordered(keys: set[str], known: tuple[str, ...]) -> list[str]:
    return [key for key in known if key in keys] + sorted(keys.difference(known))


def _diff_mapping(before: Mapping[str, Any], after: Mapping[str, Any], path: str, out: list[Change], *,
                  known: tuple[str, ...], top: bool) -> None:  # fmt: skip
    for key in _ordered(set(before) | set(after), known):
        where = _child(path, key)
        fields = FIELD_ORDER.get(key, ()) if top else ()
        if key not in after:
            out.append(Change(path=where, op=Op.REMOVED, before=before[key]))
        elif key not in before:
            out.append(Change(path=where, op=Op.ADDED, after=after[key]))
        elif top and key in NAMED_BY and _named(before[key], NAMED_BY[key]) and _named(after[key], NAMED_BY[key]):
            _diff_named(before[key], after[key], NAMED_BY[key], where, out, fields)
        else:
            _diff(before[key], after[key], where, out, fields)


def _named(items: object, key: str) -> bool:
    """A list whose every item is an object with a distinct string under `key`."""
    if not isinstance(items, list):
        return False
    names = [item.get(key) for item in items if isinstance(item, Mapping)]
    return len(names) == len(items) and all(isinstance(n, str) for n in names) and len(set(names)) == len(names)


def _diff_named(before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]], key: str, path: str,
                out: list[Change], fields: tuple[str, ...]) -> None:  # fmt: skip
    new_by_name = {item[key]: item for item in after}
    old_names = {item[key] for item in before}
    for old in before:
        where = f"{path}[{key}={old[key]}]"
        if old[key] in new_by_name:
            _diff(old, new_by_name[old[key]], where, out, fields)
        else:
            out.append(Change(path=where, op=Op.REMOVED, before=old))
    out.extend(Change(path=f"{path}[{key}={new[key]}]", op=Op.ADDED, after=new) for new in after
               if new[key] not in old_names)  # fmt: skip


def _diff_positional(before: list[Any], after: list[Any], path: str, out: list[Change],
                     fields: tuple[str, ...]) -> None:  # fmt: skip
    """Aligned by content: runs of equal items are skipped; a run replaced by as many items is compared pairwise
    (at the item's position in `after`), what is left over is added or removed (at its position in its own list)."""
    encode = msgspec.json.Encoder(order="sorted").encode
    matcher = difflib.SequenceMatcher(None, [encode(x) for x in before], [encode(y) for y in after], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        paired = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        for k in range(paired):
            _diff(before[i1 + k], after[j1 + k], f"{path}[{j1 + k}]", out, fields)
        out.extend(Change(path=f"{path}[{i}]", op=Op.REMOVED, before=before[i]) for i in range(i1 + paired, i2))
        out.extend(Change(path=f"{path}[{j}]", op=Op.ADDED, after=after[j]) for j in range(j1 + paired, j2))
