"""Hypothesis strategies for blueprint documents, and the breakers that inject known violations into valid ones."""

import copy
import random
from collections.abc import Mapping
from typing import Any, Final, TypeAlias

from hypothesis import strategies as st

from domain.document import SECTION_ORDER, SECTIONS, FieldType, Section, SectionShape

Doc: TypeAlias = dict[str, Any]
Path: TypeAlias = tuple[str | int, ...]

# Written here again on purpose: the tests check the compiler against this table, not against itself.
REQUIRED_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "identity": ("name", "role", "primary_purpose"),
    "capabilities": ("task",),
    "tools": ("name", "purpose"),
    "test_scenarios": ("question", "expected"),
}

_BLANKS: Final = ("", " ", "   ", "\t", "\n \r\n", "\u00a0", "\u3000 ")


def json_values() -> st.SearchStrategy[Any]:
    """Any JSON value, nested."""
    return _JSON_VALUES


def texts() -> st.SearchStrategy[str]:
    """Any string an author may write in an optional field, blank ones included."""
    return _TEXTS


def required_texts() -> st.SearchStrategy[str]:
    """A non-blank string, sometimes padded with whitespace the compiler must strip."""
    return _REQUIRED_TEXTS


def section_values(name: str) -> st.SearchStrategy[Any]:
    """A valid value for one known section: it compiles in any valid document."""
    return _SECTION_VALUES[name]


def blueprint_documents(valid: bool = True) -> st.SearchStrategy[Doc]:
    """Valid documents (they compile; optional sections and fields come and go, nulls included), or with
    `valid=False` almost valid ones: a valid document with junk injected, keys deleted or unknown keys added."""
    return _VALID_DOCUMENTS if valid else _ALMOST_VALID_DOCUMENTS


# Strategies are built once: building them per draw costs more than drawing from them.


def _now_and_then(rare: st.SearchStrategy[Any], usual: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`rare` one time in five, else `usual`: often enough to test nulls and blanks, rarely enough that the content
    around them is still generated (half nulls would starve every nested field)."""
    return st.integers(0, 4).flatmap(lambda pick: rare if pick == 0 else usual)


def _nullable(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return _now_and_then(st.none(), values)


_JSON_VALUES: Final[st.SearchStrategy[Any]] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
# No NUL in valid documents: PostgreSQL cannot store it in jsonb, so saving a draft refuses it (domain/blueprints.py).
_CHARACTERS: Final = st.characters(exclude_characters="\x00")
_TEXTS: Final[st.SearchStrategy[str]] = _now_and_then(st.sampled_from(_BLANKS), st.text(_CHARACTERS, max_size=24))
_REQUIRED_TEXTS: Final = st.builds(
    lambda before, text, after: before + text + after,
    st.sampled_from(_BLANKS),
    st.text(_CHARACTERS, min_size=1, max_size=24).filter(lambda text: not text.isspace()),
    st.sampled_from(_BLANKS),
)
_FIELD_VALUES: Final[Mapping[FieldType, st.SearchStrategy[Any]]] = {
    FieldType.TEXT: _nullable(_TEXTS),
    FieldType.TEXT_LIST: _nullable(st.lists(_nullable(_TEXTS), max_size=3)),
}
_FULL_TEXT_LISTS: Final = st.lists(_TEXTS, min_size=1, max_size=3)


def _objects(section: Section) -> st.SearchStrategy[Doc]:
    required = REQUIRED_FIELDS.get(section.name, ())
    return st.fixed_dictionaries(
        {name: _REQUIRED_TEXTS for name, _ in section.fields if name in required},
        optional={name: _FIELD_VALUES[kind] for name, kind in section.fields if name not in required},
    )


def _full_objects(section: Section) -> st.SearchStrategy[Doc]:
    required = REQUIRED_FIELDS.get(section.name, ())
    return st.fixed_dictionaries(
        {
            name: _REQUIRED_TEXTS if name in required else _TEXTS if kind is FieldType.TEXT else _FULL_TEXT_LISTS
            for name, kind in section.fields
        }
    )


@st.composite
def _lists_of(draw: st.DrawFn, items: st.SearchStrategy[Doc], min_size: int = 0) -> list[Doc | None]:
    """A few items, and now and then a null among them (a null counts as absent)."""
    values: list[Doc | None] = list(draw(st.lists(items, min_size=min_size, max_size=3)))
    if draw(st.integers(0, 4)) == 0:
        values.insert(draw(st.integers(0, len(values))), None)
    return values


def _section_values(section: Section, *, full: bool) -> st.SearchStrategy[Any]:
    objects = _full_objects(section) if full else _objects(section)
    return objects if section.shape is SectionShape.OBJECT else _lists_of(objects, min_size=int(full))


_SECTION_VALUES: Final[Mapping[str, st.SearchStrategy[Any]]] = {
    section.name: _section_values(section, full=False) for section in SECTIONS
}
# Half the valid documents have every section and field: with each one optional, a document holding, say, a
# capability with an example would be rare, and a property about examples would seldom see one.
_VALID_DOCUMENTS: Final = st.fixed_dictionaries(
    {"identity": _SECTION_VALUES["identity"]},
    optional={name: _nullable(_SECTION_VALUES[name]) for name in SECTION_ORDER[1:]},
) | st.fixed_dictionaries({section.name: _section_values(section, full=True) for section in SECTIONS})


# -- paths and breakers -----------------------------------------------------------------------------------------


def path_text(path: Path) -> str:
    """("capabilities", 1, "examples", 2) -> "capabilities[1].examples[2]", as violations name it."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def get_at(doc: Doc, path: Path) -> Any:
    value: Any = doc
    for part in path:
        value = value[part]
    return value


def set_at(doc: Doc, path: Path, value: Any) -> None:
    get_at(doc, path[:-1])[path[-1]] = value


def delete_at(doc: Doc, path: Path) -> None:
    del get_at(doc, path[:-1])[path[-1]]


def _field_paths(section: Section, obj: Doc, where: Path) -> list[tuple[Path, str]]:
    paths: list[tuple[Path, str]] = []
    for name, kind in section.fields:
        paths.append(((*where, name), str(kind)))
        value = obj.get(name)
        if kind is FieldType.TEXT_LIST and isinstance(value, list):
            paths += [((*where, name, index), str(FieldType.TEXT)) for index in range(len(value))]
    return paths


def known_objects(doc: Doc) -> list[tuple[Section, Path, Doc]]:
    """The objects of the known sections (identity, monitoring, workflow, list items), with their section and path."""
    found: list[tuple[Section, Path, Doc]] = []
    for section in SECTIONS:
        value = doc.get(section.name)
        if isinstance(value, dict):
            found.append((section, (section.name,), value))
        elif isinstance(value, list):
            found += [(section, (section.name, i), item) for i, item in enumerate(value) if isinstance(item, dict)]
    return found


def typed_paths(doc: Doc) -> list[tuple[Path, str]]:
    """Every place of a valid document that has a type, present or not, with what it must be: the sections, their
    items, the items' fields, the strings in string lists."""
    paths: list[tuple[Path, str]] = []
    for section in SECTIONS:
        where: Path = (section.name,)
        value = doc.get(section.name)
        paths.append((where, str(section.shape)))
        if isinstance(value, dict):
            paths += _field_paths(section, value, where)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                paths.append(((*where, index), OBJECT_OR_TEXT if section.text_item else str(SectionShape.OBJECT)))
                if isinstance(item, dict):
                    paths += _field_paths(section, item, (*where, index))
    return paths


def required_paths(doc: Doc) -> list[Path]:
    """Every required field of a valid document, each present and non-blank."""
    paths: list[Path] = []
    for section_name, names in REQUIRED_FIELDS.items():
        value = doc.get(section_name)
        if isinstance(value, dict):
            paths += [(section_name, name) for name in names]
        elif isinstance(value, list):
            paths += [(section_name, i, name) for i, item in enumerate(value) if item is not None for name in names]
    return paths


def wrong_values(kind: str) -> st.SearchStrategy[Any]:
    """Non-null JSON values that are not of `kind` ("string", "object", "list of objects", "list of strings")."""
    return _WRONG_VALUES[kind]


def _wrong_values(kind: str) -> st.SearchStrategy[Any]:
    choices: list[st.SearchStrategy[Any]] = [st.booleans(), st.integers(), st.floats(allow_nan=False)]
    if kind not in (FieldType.TEXT, OBJECT_OR_TEXT):
        choices.append(st.text(max_size=8))
    if kind not in (SectionShape.LIST, FieldType.TEXT_LIST):
        choices.append(st.lists(_JSON_VALUES, max_size=2))
    if kind not in (SectionShape.OBJECT, OBJECT_OR_TEXT):
        choices.append(st.dictionaries(st.text(max_size=8), _JSON_VALUES, max_size=2))
    return st.one_of(choices)


# An item of a section that also takes plain strings (the old system's shape, docs/blueprint-shapes.md).
OBJECT_OR_TEXT: Final = "object or a string"
_WRONG_VALUES: Final = {str(kind): _wrong_values(kind) for kind in (*SectionShape, *FieldType, OBJECT_OR_TEXT)}


def _outermost(paths: list[Path]) -> list[Path]:
    """The paths none of which lies inside another: breaking a section and then one of its fields is one break."""
    kept: list[Path] = []
    for path in sorted(paths, key=len):
        if not any(path[: len(outer)] == outer for outer in kept):
            kept.append(path)
    return kept


@st.composite
def broken_documents(draw: st.DrawFn) -> tuple[Doc, frozenset[str]]:
    """A valid document with k >= 1 required fields deleted, nulled or blanked (now and then the whole identity
    section), and the paths that must be named: exactly these."""
    doc = copy.deepcopy(draw(blueprint_documents()))
    if draw(st.integers(0, 9)) == 0:  # no identity at all: its three required fields are missing
        whole = draw(st.sampled_from(("delete", "null", "empty")))
        if whole == "delete":
            del doc["identity"]
        else:
            doc["identity"] = None if whole == "null" else {}
        expected = [("identity", name) for name in REQUIRED_FIELDS["identity"]]
        others = [path for path in required_paths(doc) if path[0] != "identity"]
        chosen = draw(st.lists(st.sampled_from(others), unique=True)) if others else []
        return _break(draw, doc, chosen), frozenset(map(path_text, [*expected, *chosen]))
    chosen = draw(st.lists(st.sampled_from(required_paths(doc)), min_size=1, unique=True))
    return _break(draw, doc, chosen), frozenset(map(path_text, chosen))


def _break(draw: st.DrawFn, doc: Doc, chosen: list[Path]) -> Doc:
    for path in chosen:
        how = draw(st.sampled_from(("delete", "null", *_BLANKS)))
        if how == "delete":
            delete_at(doc, path)
        else:
            set_at(doc, path, None if how == "null" else how)
    return doc


@st.composite
def mistyped_documents(draw: st.DrawFn) -> tuple[Doc, frozenset[str]]:
    """A valid document with k >= 1 values of the wrong type (sections, items, fields, list elements), and their
    paths: exactly these must be reported, since the type check is the only one that applies to them."""
    doc = copy.deepcopy(draw(blueprint_documents()))
    kinds = dict(typed_paths(doc))
    # Depth first, then a place at that depth: the 8 sections would otherwise drown among dozens of fields.
    by_depth: dict[int, list[Path]] = {}
    for path in kinds:
        by_depth.setdefault(len(path), []).append(path)
    picks = [
        draw(st.sampled_from(by_depth[draw(st.sampled_from(sorted(by_depth)))])) for _ in range(draw(st.integers(1, 4)))
    ]
    chosen = _outermost(list(dict.fromkeys(picks)))
    for path in chosen:
        set_at(doc, path, draw(wrong_values(kinds[path])))
    return doc, frozenset(map(path_text, chosen))


@st.composite
def _with_junk(draw: st.DrawFn, documents: st.SearchStrategy[Doc]) -> Doc:
    doc = copy.deepcopy(draw(documents))
    for _ in range(draw(st.integers(1, 3))):
        present = [path for path, _ in typed_paths(doc) if _exists(doc, path)]
        keys = [path for path in present if isinstance(path[-1], str)]
        how = draw(st.sampled_from(("replace", "delete", "unknown key") if keys else ("unknown key",)))
        if how == "replace":
            set_at(doc, draw(st.sampled_from(present)), draw(_JSON_VALUES))
        elif how == "delete":
            delete_at(doc, draw(st.sampled_from(keys)))
        else:
            objects = [(), *(path for path in present if isinstance(get_at(doc, path), dict))]
            set_at(doc, (*draw(st.sampled_from(objects)), draw(st.text(max_size=12))), draw(_JSON_VALUES))
    return doc


_ALMOST_VALID_DOCUMENTS: Final = _with_junk(_VALID_DOCUMENTS)


def _exists(doc: Doc, path: Path) -> bool:
    parent = get_at(doc, path[:-1])
    return path[-1] in parent if isinstance(parent, dict) else True


def shuffled(value: Any, rnd: random.Random) -> Any:
    """A deep copy with every object's keys in another order; lists keep theirs."""
    if isinstance(value, dict):
        keys = list(value)
        rnd.shuffle(keys)
        return {key: shuffled(value[key], rnd) for key in keys}
    if isinstance(value, list):
        return [shuffled(item, rnd) for item in value]
    return value
