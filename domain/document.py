"""The blueprint document: its sections in prompt order, their shape checks, and a typed view of a well-shaped one.

A document is a JSON value as a JSON decoder returns it (dict, list, str, int, float, bool, None), stored verbatim.
The old system's shapes are read here too (docs/blueprint-shapes.md): plain strings as list items, fields under
their old names, and the columns of its old agent row. They are read as what they mean; the document stays as written.
"""

from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Any, Final, TypeVar

import msgspec

from domain.errors import Violation


class SectionShape(StrEnum):
    OBJECT = "object"
    LIST = "list of objects"


class FieldType(StrEnum):
    TEXT = "string"
    TEXT_LIST = "list of strings"


class Section(msgspec.Struct, frozen=True, kw_only=True):
    """One known section: its key, its shape and its fields, in the order the prompt uses them; and how the old
    system wrote its items, which is read too."""

    name: str
    shape: SectionShape
    fields: tuple[tuple[str, FieldType], ...]
    text_item: str | None = None  # a list item written as a plain string is an item with this field, and only it
    old_names: tuple[tuple[str, str], ...] = ()  # (old name, field): the field under the name the old system used


_TEXT, _TEXT_LIST = FieldType.TEXT, FieldType.TEXT_LIST

SECTIONS: Final[tuple[Section, ...]] = (
    Section(
        name="identity",
        shape=SectionShape.OBJECT,
        fields=(("name", _TEXT), ("role", _TEXT), ("personality", _TEXT), ("primary_purpose", _TEXT)),
    ),
    Section(
        name="capabilities",
        shape=SectionShape.LIST,
        fields=(("task", _TEXT), ("description", _TEXT), ("examples", _TEXT_LIST)),
        text_item="task",
    ),
    Section(
        name="tools",
        shape=SectionShape.LIST,
        fields=(("name", _TEXT), ("purpose", _TEXT), ("triggers", _TEXT_LIST)),
        text_item="name",
    ),
    Section(
        name="integrations",
        shape=SectionShape.LIST,
        fields=(("app", _TEXT), ("actions", _TEXT_LIST), ("triggers", _TEXT_LIST)),
    ),
    Section(
        name="knowledge_sources",
        shape=SectionShape.LIST,
        fields=(("source", _TEXT), ("type", _TEXT), ("update_frequency", _TEXT)),
        text_item="source",
    ),
    Section(name="monitoring", shape=SectionShape.OBJECT, fields=(("reporting", _TEXT), ("fallbacks", _TEXT))),
    Section(
        name="test_scenarios",
        shape=SectionShape.LIST,
        fields=(("question", _TEXT), ("expected", _TEXT)),
        old_names=(("expected_response", "expected"),),
    ),
    Section(name="workflow", shape=SectionShape.OBJECT, fields=(("steps", _TEXT_LIST), ("visual_flow", _TEXT))),
)

SECTION_ORDER: Final[tuple[str, ...]] = tuple(section.name for section in SECTIONS)
SECTION: Final[Mapping[str, Section]] = {section.name: section for section in SECTIONS}

# The columns of the old system's agent row that migration 0005 keeps in an imported agent's version 1; a document
# holding any of them is read as that row too (see "the old system's row" below).
OLD_ROW_COLUMNS: Final = ("system_prompt", "tools_list", "knowledge_list")

_TOP_LEVEL_KEYS: Final = frozenset((*SECTION_ORDER, *OLD_ROW_COLUMNS))
# Every key with a type in a section's objects, its fields' old names included, with the type.
_TYPED_KEYS: Final[Mapping[str, tuple[tuple[str, FieldType], ...]]] = {
    section.name: (*section.fields, *((old, dict(section.fields)[new]) for old, new in section.old_names))
    for section in SECTIONS
}
_FIELD_NAMES: Final = {name: frozenset(key for key, _ in keys) for name, keys in _TYPED_KEYS.items()}
_WITH_OLD_NAMES: Final = tuple(section for section in SECTIONS if section.old_names)

UNKNOWN_SECTION: Final = "unknown section, kept in the document but not part of the prompt"
UNKNOWN_FIELD: Final = "unknown field, ignored by the compiler"


def is_blank(value: object) -> bool:
    """Absent, null, empty or only whitespace: what a required field may not be."""
    return value is None or (isinstance(value, str) and (not value or value.isspace()))


def item_object(section: Section, item: object) -> Mapping[str, Any] | None:
    """An item of a list section as an object: itself, or for a plain string the item it stands for (a string tool
    is a tool with that name); None for anything else."""
    if isinstance(item, dict):
        return item
    if isinstance(item, str) and section.text_item is not None:
        return {section.text_item: item}
    return None


def field_value(section: Section, obj: Mapping[str, Any], name: str) -> Any:
    """A field of a section's object as it is read: its own value, or when that is blank, the value written under
    the field's old name (`expected_response` for `expected`)."""
    value = obj.get(name)
    if not is_blank(value):
        return value
    for old, new in section.old_names:
        if new == name and obj.get(old) is not None:
            return obj[old]
    return value


# -- the typed view ---------------------------------------------------------------------------------------------
# Values are as written (not stripped); absent and null are None or empty; null list items are dropped.


class Identity(msgspec.Struct, frozen=True, kw_only=True):
    name: str | None = None
    role: str | None = None
    personality: str | None = None
    primary_purpose: str | None = None


class Capability(msgspec.Struct, frozen=True, kw_only=True):
    task: str | None = None
    description: str | None = None
    examples: tuple[str, ...] = ()


class Tool(msgspec.Struct, frozen=True, kw_only=True):
    name: str | None = None
    purpose: str | None = None
    triggers: tuple[str, ...] = ()


class Integration(msgspec.Struct, frozen=True, kw_only=True):
    app: str | None = None
    actions: tuple[str, ...] = ()
    triggers: tuple[str, ...] = ()


class KnowledgeSource(msgspec.Struct, frozen=True, kw_only=True):
    source: str | None = None
    type: str | None = None
    update_frequency: str | None = None


class Monitoring(msgspec.Struct, frozen=True, kw_only=True):
    reporting: str | None = None
    fallbacks: str | None = None


class TestScenario(msgspec.Struct, frozen=True, kw_only=True):
    __test__ = False  # not a pytest test class, whatever its name says

    question: str | None = None
    expected: str | None = None


class Workflow(msgspec.Struct, frozen=True, kw_only=True):
    steps: tuple[str, ...] = ()
    visual_flow: str | None = None


class Blueprint(msgspec.Struct, frozen=True, kw_only=True):
    """The known sections of a document. The raw document stays with the caller: it is what is stored, verbatim,
    unknown keys included; this view is derived from it and never stored."""

    identity: Identity | None = None
    capabilities: tuple[Capability, ...] = ()
    tools: tuple[Tool, ...] = ()
    integrations: tuple[Integration, ...] = ()
    knowledge_sources: tuple[KnowledgeSource, ...] = ()
    monitoring: Monitoring | None = None
    test_scenarios: tuple[TestScenario, ...] = ()
    workflow: Workflow | None = None


def read_blueprint(doc: Mapping[str, Any]) -> Blueprint:
    """The typed view of a document for which `shape_violations` returned nothing (anything else may raise)."""
    view = _fast_view(doc)
    return view if view is not None else msgspec.convert(_known_content(doc), Blueprint)


def _fast_view(doc: object) -> Blueprint | None:
    """The view in one C-level pass when the document holds no nulls inside lists and none of the old item shapes
    (the usual case), else None. Its types are at least as strict as the shape checks, so a view here means no shape
    violation; a plain-string item fails it, and a field under its old name, which it would ignore, is looked for."""
    if not isinstance(doc, dict) or _has_old_names(doc):
        return None
    try:
        return msgspec.convert(doc, Blueprint)
    except (msgspec.ValidationError, UnicodeEncodeError):  # the latter: its message quoting a lone surrogate
        return None


def _has_old_names(doc: Mapping[str, Any]) -> bool:
    for section in _WITH_OLD_NAMES:
        value = doc.get(section.name)
        objects = [value] if isinstance(value, dict) else value if isinstance(value, list) else ()
        if any(isinstance(obj, dict) and old in obj for obj in objects for old, _ in section.old_names):
            return True
    return False


def _known_content(doc: Mapping[str, Any]) -> dict[str, Any]:
    known: dict[str, Any] = {}
    for section in SECTIONS:
        value = doc.get(section.name)
        if value is None:
            continue
        if section.shape is SectionShape.OBJECT:
            known[section.name] = _known_fields(section, value)
        else:
            objects = (item_object(section, item) for item in value)
            known[section.name] = [_known_fields(section, obj) for obj in objects if obj is not None]
    return known


def _known_fields(section: Section, obj: Mapping[str, Any]) -> dict[str, Any]:
    known: dict[str, Any] = {}
    for name, kind in section.fields:
        value = field_value(section, obj, name)
        if value is None:
            continue
        known[name] = value if kind is FieldType.TEXT else [text for text in value if text is not None]
    return known


# -- shape checks -----------------------------------------------------------------------------------------------
# Types only, every violation at once, never raising on any JSON value; a null anywhere counts as absent. Nothing
# below recurses into content it does not know, so arbitrarily deep junk costs nothing.


def shape_violations(doc: object) -> list[Violation]:
    """Every place where a known section or field has the wrong type; the document itself must be an object."""
    if not isinstance(doc, dict):
        return [Violation(field="", message="must be a JSON object")]
    if _fast_view(doc) is not None:
        return []
    return [violation for section in SECTIONS for violation in _section_shape(section, doc.get(section.name))]


def _section_shape(section: Section, value: object) -> Iterator[Violation]:
    if value is None:
        return
    if section.shape is SectionShape.OBJECT:
        if isinstance(value, dict):
            yield from _fields_shape(section, value, section.name)
        else:
            yield Violation(field=section.name, message="must be an object")
        return
    if not isinstance(value, list | tuple):
        yield Violation(field=section.name, message="must be a list of objects")
        return
    for index, item in enumerate(value):
        path = f"{section.name}[{index}]"
        if isinstance(item, dict):
            yield from _fields_shape(section, item, path)
        elif section.text_item is None and item is not None:
            yield Violation(field=path, message="must be an object")
        elif item is not None and not isinstance(item, str):
            yield Violation(field=path, message="must be an object or a string")


def _fields_shape(section: Section, obj: Mapping[Any, Any], where: str) -> Iterator[Violation]:
    for name, kind in _TYPED_KEYS[section.name]:
        value = obj.get(name)
        path = f"{where}.{name}"
        if value is None or (kind is FieldType.TEXT and isinstance(value, str)):
            continue
        if kind is FieldType.TEXT or not isinstance(value, list | tuple):
            yield Violation(field=path, message=f"must be a {kind}")
            continue
        for index, text in enumerate(value):
            if text is not None and not isinstance(text, str):
                yield Violation(field=f"{path}[{index}]", message="must be a string")


# -- unknown keys -----------------------------------------------------------------------------------------------


def unknown_fields(doc: object) -> list[Violation]:
    """Warnings, never errors: unknown top-level keys (sorted), then unknown keys inside known sections in section
    order (sorted within each object), with any old name not read because its field is given too. Parts with the
    wrong shape are skipped: `shape_violations` reports them."""
    if not isinstance(doc, dict):
        return []
    warnings = [
        Violation(field=key, message=UNKNOWN_SECTION)
        for key in sorted(str(key) for key in doc if key not in _TOP_LEVEL_KEYS)
    ]
    for section in SECTIONS:
        value, fields = doc.get(section.name), _FIELD_NAMES[section.name]
        if section.shape is SectionShape.OBJECT:
            if isinstance(value, dict) and not value.keys() <= fields:
                warnings += _unknown_keys(fields, value, section.name)
            if isinstance(value, dict) and section.old_names:
                warnings += _unread_old_names(section, value, section.name)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                if isinstance(item, dict) and not item.keys() <= fields:
                    warnings += _unknown_keys(fields, item, f"{section.name}[{index}]")
                if isinstance(item, dict) and section.old_names:
                    warnings += _unread_old_names(section, item, f"{section.name}[{index}]")
    return warnings


def _unknown_keys(fields: frozenset[str], obj: Mapping[Any, Any], where: str) -> list[Violation]:
    return [
        Violation(field=f"{where}.{key}", message=UNKNOWN_FIELD)
        for key in sorted(str(key) for key in obj if key not in fields)
    ]


def _unread_old_names(section: Section, obj: Mapping[str, Any], where: str) -> list[Violation]:
    return [
        Violation(field=f"{where}.{old}", message=f"the old name of {new}, which is given too and is read instead")
        for old, new in section.old_names
        if obj.get(old) is not None and not is_blank(obj.get(new))
    ]


# -- the old system's row ---------------------------------------------------------------------------------------
# The old system kept an agent as one row: `name`, `system_prompt` (an object such as {"role": …, "tone": …}, or what
# its assistant wrote: {"base_instruction": …, "agent_type": …, "language": …, …}), `tools_list` and `knowledge_list`
# (lists of names). Migration 0005 keeps the row's other columns verbatim as an imported agent's version 1, and its
# `name` as the agent's name. Read here as what they mean, into the blueprint's terms: nothing in them is refused, what
# cannot be read is a warning, and what has no place in a blueprint becomes instructions of the prompt.

# The identity fields `system_prompt` may give, each under the keys it is found by, the first present one read.
OLD_IDENTITY_KEYS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("name", ("name",)),
    ("role", ("role", "agent_type")),
    ("personality", ("personality", "tone")),
    ("primary_purpose", ("primary_purpose", "purpose")),
)
OLD_PROSE_KEYS: Final = ("base_instruction", "instructions", "prompt", "text")  # the old prompt's own text, verbatim
OLD_RECORD_KEYS: Final = frozenset({"created_at", "created_from", "updated_at"})  # its assistant's bookkeeping
NOT_TEXT: Final = "not text, so not part of the prompt"

_Item = TypeVar("_Item", Tool, KnowledgeSource)


class OldRow(msgspec.Struct, frozen=True, kw_only=True):
    """What a document's old-row columns say, in the blueprint's terms. `identity` holds only the fields that the
    document's own identity leaves blank; tools and knowledge sources come with the path they were read from."""

    identity: tuple[tuple[str, str], ...] = ()
    tools: tuple[tuple[str, Tool], ...] = ()
    knowledge_sources: tuple[tuple[str, KnowledgeSource], ...] = ()
    instructions: tuple[str, ...] = ()  # the old prompt's text, paragraph by paragraph
    notes: tuple[tuple[str, str], ...] = ()  # (label, text): what has no place in a blueprint, one line each
    warnings: tuple[Violation, ...] = ()


def read_old_row(doc: Mapping[str, Any], *, agent_name: str | None = None) -> OldRow | None:
    """The old-row columns of a document read as blueprint content, or None when it has none of them. The identity's
    name, when neither the document nor `system_prompt` gives one, is `agent_name`: the agent's own name, which for
    an imported agent is the old row's `name`. Total: never raises, whatever the columns hold."""
    if not any(column in doc for column in OLD_ROW_COLUMNS):
        return None
    own = doc.get("identity")
    own_identity: Mapping[str, Any] = own if isinstance(own, dict) else {}
    warnings: list[Violation] = []
    identity, instructions, notes = _read_system_prompt(doc.get("system_prompt"), own_identity, warnings)
    if not is_blank(agent_name) and "name" not in dict(identity) and is_blank(own_identity.get("name")):
        identity.append(("name", str(agent_name)))
    return OldRow(
        identity=tuple(identity),
        tools=tuple(_read_old_list(doc.get("tools_list"), "tools_list", SECTION["tools"], Tool, warnings)),
        knowledge_sources=tuple(
            _read_old_list(
                doc.get("knowledge_list"), "knowledge_list", SECTION["knowledge_sources"], KnowledgeSource, warnings
            )
        ),
        instructions=tuple(instructions),
        notes=tuple(notes),
        warnings=tuple(warnings),
    )


def _read_system_prompt(
    value: object, own_identity: Mapping[str, Any], warnings: list[Violation]
) -> tuple[list[tuple[str, str]], list[str], list[tuple[str, str]]]:
    """(identity fields, paragraphs, notes) from `system_prompt`: a text is the old prompt itself; an object gives
    identity fields, the old prompt's text under its prose keys, and a note per other key holding text."""
    identity: list[tuple[str, str]] = []
    instructions: list[str] = []
    notes: list[tuple[str, str]] = []
    if value is None:
        return identity, instructions, notes
    if isinstance(value, str):
        if text := value.strip():
            instructions.append(text)
        return identity, instructions, notes
    if not isinstance(value, dict):
        warnings.append(Violation(field="system_prompt", message="neither text nor an object, so not read"))
        return identity, instructions, notes
    read: set[str] = set()
    for field, keys in OLD_IDENTITY_KEYS:
        key = next((key for key in keys if _as_text(value.get(key))), None)
        if key is None:
            continue
        read.add(key)
        if is_blank(own_identity.get(field)):
            identity.append((field, str(_as_text(value[key]))))
        else:
            warnings.append(
                Violation(field=f"system_prompt.{key}", message=f"identity.{field} is given too and is read instead")
            )
    for key in OLD_PROSE_KEYS:
        prose = value.get(key)
        if isinstance(prose, str):
            read.add(key)
            if prose.strip():
                instructions.append(prose.strip())
    for key in sorted(key for key in value if key not in read):
        said = _as_text(value[key])
        if key in OLD_RECORD_KEYS:
            warnings.append(Violation(field=f"system_prompt.{key}", message="the old system's bookkeeping, not read"))
        elif said is None and value[key] is not None:
            warnings.append(Violation(field=f"system_prompt.{key}", message=NOT_TEXT))
        elif said:
            label = key.replace("_", " ").strip()
            notes.append((label[:1].upper() + label[1:], said))
    return identity, instructions, notes


def _as_text(value: object) -> str | None:
    """A value the prompt can say, stripped: a text; texts, joined by ", "; an object of those, as "key: text"
    pairs joined by "; " in key order. None for anything else (numbers, booleans, deeper nesting); nulls are skipped."""
    if isinstance(value, dict):
        parts = [(str(key), _flat_text(item)) for key, item in sorted(value.items(), key=lambda pair: str(pair[0]))]
        if any(text is None and value[key] is not None for key, text in parts):
            return None
        return "; ".join(f"{key}: {text}" for key, text in parts if text)
    return _flat_text(value)


def _flat_text(value: object) -> str | None:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list) and all(item is None or isinstance(item, str) for item in value):
        return ", ".join(text for item in value if isinstance(item, str) and (text := item.strip()))
    return None


def _read_old_list(
    value: object, column: str, section: Section, kind: type[_Item], warnings: list[Violation]
) -> Iterator[tuple[str, _Item]]:
    """The items of `tools_list` or `knowledge_list` as the section's items, with their paths: a name, or an object
    of the section's shape. What cannot be one is left out, with a warning."""
    if value is None:
        return
    if not isinstance(value, list):
        warnings.append(Violation(field=column, message="not a list, so not read"))
        return
    named_by, noun = str(section.text_item), section.name.removesuffix("s").replace("_", " ")
    for index, item in enumerate(value):
        path = f"{column}[{index}]"
        obj = item_object(section, item)
        if item is None or (isinstance(item, str) and is_blank(item)):
            continue
        if obj is None or any(_fields_shape(section, obj, path)):
            warnings.append(Violation(field=path, message=f"neither a name nor a {noun} object; left out"))
        elif is_blank(obj.get(named_by)):
            warnings.append(Violation(field=path, message=f"no {named_by}; left out"))
        else:
            yield path, msgspec.convert(_known_fields(section, obj), kind)
