"""The blueprint document: its sections in prompt order, their shape checks, and a typed view of a well-shaped one.

A document is a JSON value as a JSON decoder returns it (dict, list, str, int, float, bool, None), stored verbatim.
"""

from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Any, Final

import msgspec

from domain.errors import Violation


class SectionShape(StrEnum):
    OBJECT = "object"
    LIST = "list of objects"


class FieldType(StrEnum):
    TEXT = "string"
    TEXT_LIST = "list of strings"


class Section(msgspec.Struct, frozen=True, kw_only=True):
    """One known section: its key, its shape and its fields, in the order the prompt uses them."""

    name: str
    shape: SectionShape
    fields: tuple[tuple[str, FieldType], ...]


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
    ),
    Section(
        name="tools", shape=SectionShape.LIST, fields=(("name", _TEXT), ("purpose", _TEXT), ("triggers", _TEXT_LIST))
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
    ),
    Section(name="monitoring", shape=SectionShape.OBJECT, fields=(("reporting", _TEXT), ("fallbacks", _TEXT))),
    Section(name="test_scenarios", shape=SectionShape.LIST, fields=(("question", _TEXT), ("expected", _TEXT))),
    Section(name="workflow", shape=SectionShape.OBJECT, fields=(("steps", _TEXT_LIST), ("visual_flow", _TEXT))),
)

SECTION_ORDER: Final[tuple[str, ...]] = tuple(section.name for section in SECTIONS)

_SECTION_NAMES: Final = frozenset(SECTION_ORDER)
_FIELD_NAMES: Final = {section.name: frozenset(name for name, _ in section.fields) for section in SECTIONS}

UNKNOWN_SECTION: Final = "unknown section, kept in the document but not part of the prompt"
UNKNOWN_FIELD: Final = "unknown field, ignored by the compiler"


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
    """The view in one C-level pass when the document holds no nulls inside lists (the usual case), else None.
    Its types are at least as strict as the shape checks, so a view here means no shape violation."""
    if not isinstance(doc, dict):
        return None
    try:
        return msgspec.convert(doc, Blueprint)
    except msgspec.ValidationError:
        return None


def _known_content(doc: Mapping[str, Any]) -> dict[str, Any]:
    known: dict[str, Any] = {}
    for section in SECTIONS:
        value = doc.get(section.name)
        if value is None:
            continue
        if section.shape is SectionShape.OBJECT:
            known[section.name] = _known_fields(section, value)
        else:
            known[section.name] = [_known_fields(section, item) for item in value if item is not None]
    return known


def _known_fields(section: Section, obj: Mapping[str, Any]) -> dict[str, Any]:
    known: dict[str, Any] = {}
    for name, kind in section.fields:
        value = obj.get(name)
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
        elif item is not None:
            yield Violation(field=path, message="must be an object")


def _fields_shape(section: Section, obj: Mapping[Any, Any], where: str) -> Iterator[Violation]:
    for name, kind in section.fields:
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
    order (sorted within each object). Parts with the wrong shape are skipped: `shape_violations` reports them."""
    if not isinstance(doc, dict):
        return []
    warnings = [
        Violation(field=key, message=UNKNOWN_SECTION)
        for key in sorted(str(key) for key in doc if key not in _SECTION_NAMES)
    ]
    for section in SECTIONS:
        value, fields = doc.get(section.name), _FIELD_NAMES[section.name]
        if section.shape is SectionShape.OBJECT:
            if isinstance(value, dict) and not value.keys() <= fields:
                warnings += _unknown_keys(fields, value, section.name)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                if isinstance(item, dict) and not item.keys() <= fields:
                    warnings += _unknown_keys(fields, item, f"{section.name}[{index}]")
    return warnings


def _unknown_keys(fields: frozenset[str], obj: Mapping[Any, Any], where: str) -> list[Violation]:
    return [
        Violation(field=f"{where}.{key}", message=UNKNOWN_FIELD)
        for key in sorted(str(key) for key in obj if key not in fields)
    ]
