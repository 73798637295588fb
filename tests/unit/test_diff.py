"""The diff of two blueprint documents (domain/diff.py): examples, then hypothesis properties."""

import copy
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.diff import NAMED_BY, Change, Op, document_diff, prompt_diff
from tests.samples import shop_buddy
from tests.strategies import Doc, blueprint_documents, json_values

PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def swapped(changes: list[Change]) -> list[tuple[str, Op, Any, Any]]:
    flip = {Op.ADDED: Op.REMOVED, Op.REMOVED: Op.ADDED, Op.CHANGED: Op.CHANGED}
    return sorted((c.path, flip[c.op], c.after, c.before) for c in changes)


def flat(changes: list[Change]) -> list[tuple[str, Op, Any, Any]]:
    return sorted((c.path, c.op, c.before, c.after) for c in changes)


def test_one_tool_inserted_at_the_top_is_one_addition() -> None:
    before = shop_buddy()
    after = copy.deepcopy(before)
    tool = {"name": "gift_wrap", "purpose": "Wraps an order as a gift", "triggers": ["gift"]}
    after["tools"].insert(0, tool)

    assert document_diff(before, after) == [Change(path="tools[name=gift_wrap]", op=Op.ADDED, after=tool)]


def test_a_changed_field_of_a_named_item_is_named_by_the_item_and_the_field() -> None:
    before = shop_buddy()
    after = copy.deepcopy(before)
    old_purpose = after["tools"][0]["purpose"]
    after["tools"][0]["purpose"] = "Something else"
    name = after["tools"][0]["name"]

    assert document_diff(before, after) == [
        Change(path=f"tools[name={name}].purpose", op=Op.CHANGED, before=old_purpose, after="Something else")
    ]


def test_sections_and_fields_added_removed_and_changed_are_named_by_their_path() -> None:
    before = {"identity": {"name": "A", "role": "r"}, "monitoring": {"reporting": "daily"}, "x_custom": 1}
    after = {"identity": {"name": "B", "role": "r", "personality": "warm"}, "x_custom": 1.0, "workflow": {"steps": []}}

    assert document_diff(before, after) == [
        Change(path="identity.name", op=Op.CHANGED, before="A", after="B"),
        Change(path="identity.personality", op=Op.ADDED, after="warm"),
        Change(path="monitoring", op=Op.REMOVED, before={"reporting": "daily"}),
        Change(path="workflow", op=Op.ADDED, after={"steps": []}),
    ]  # 1 and 1.0 are the same JSON number


def test_unnamed_lists_are_aligned_by_content() -> None:
    before = {"workflow": {"steps": ["greet", "ask", "answer"]}, "flags": [True]}
    after = {"workflow": {"steps": ["greet", "check stock", "ask", "answer"]}, "flags": [1]}

    assert document_diff(before, after) == [
        Change(path="workflow.steps[1]", op=Op.ADDED, after="check stock"),
        Change(path="flags[0]", op=Op.CHANGED, before=True, after=1),  # true is not 1 in JSON
    ]


def test_a_named_list_with_repeated_or_missing_names_is_compared_by_content() -> None:
    before = {"tools": [{"name": "a"}, {"name": "a"}, "plain"]}
    after = {"tools": [{"name": "z"}, {"name": "a"}, {"name": "a"}, "plain"]}

    assert document_diff(before, after) == [Change(path="tools[0]", op=Op.ADDED, after={"name": "z"})]


def test_the_prompt_diff_is_unified_and_none_without_two_prompts() -> None:
    made = prompt_diff("You are A.\nBe brief.\n", "You are B.\nBe brief.\n", before_name="v1", after_name="v2")

    assert made == "--- v1\n+++ v2\n@@ -1,2 +1,2 @@\n-You are A.\n+You are B.\n Be brief.\n"
    assert prompt_diff("same", "same", before_name="v1", after_name="v2") == ""
    assert prompt_diff(None, "x", before_name="v1", after_name="v2") is None
    assert prompt_diff("x", None, before_name="v1", after_name="v2") is None


@PROPERTY
@given(st.one_of(blueprint_documents(valid=False), st.dictionaries(st.text(max_size=5), json_values(), max_size=5)))
def test_a_document_against_itself_or_a_copy_is_empty(document: Doc) -> None:
    assert document_diff(document, document) == []
    assert document_diff(document, copy.deepcopy(document)) == []


@PROPERTY
@given(
    st.dictionaries(st.text(max_size=5), json_values(), max_size=5),
    st.dictionaries(st.text(max_size=5), json_values(), max_size=5),
)
def test_every_change_is_at_its_own_path_and_only_equal_documents_have_none(a: Doc, b: Doc) -> None:
    changes = document_diff(a, b)
    keyed = [(c.path, c.op) for c in changes]
    assert len(keyed) == len(set(keyed))
    assert all((c.before is msgspec.UNSET) == (c.op is Op.ADDED) for c in changes)
    assert all((c.after is msgspec.UNSET) == (c.op is Op.REMOVED) for c in changes)
    encode = msgspec.json.Encoder(order="sorted").encode
    if encode(a) == encode(b):
        assert changes == []
    if not changes:
        assert a == b


def _edits(draw: st.DrawFn, document: Doc) -> Doc:
    """The same document with edits a person makes: fields of the identity changed, named items inserted anywhere,
    removed or changed, a section dropped or added. Unnamed lists are left as they are."""
    edited = copy.deepcopy(document)
    identity = edited.setdefault("identity", {})
    if isinstance(identity, dict) and draw(st.booleans()):
        identity[draw(st.sampled_from(["name", "role", "personality"]))] = draw(st.text(max_size=8))
    for section, key in NAMED_BY.items():
        items = edited.get(section)
        if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get(key), str) for i in items):
            continue
        if len({i[key] for i in items}) != len(items):
            continue
        if bool(items) and draw(st.booleans()):
            del items[draw(st.integers(0, len(items) - 1))]
        if draw(st.booleans()):
            items.insert(draw(st.integers(0, len(items))), {key: f"new-\u2603-{section}", "purpose": "p"})
        if bool(items) and draw(st.booleans()):
            items[draw(st.integers(0, len(items) - 1))]["note"] = draw(st.text(max_size=4))
    if draw(st.booleans()):
        edited.pop(draw(st.sampled_from(["monitoring", "workflow", "integrations"])), None)
    return edited


@st.composite
def edited_pairs(draw: st.DrawFn) -> tuple[Doc, Doc]:
    document = draw(blueprint_documents())
    return document, _edits(draw, document)


@PROPERTY
@given(edited_pairs())
def test_swapping_from_and_to_swaps_additions_with_removals_and_before_with_after(pair: tuple[Doc, Doc]) -> None:
    a, b = pair
    assert flat(document_diff(b, a)) == swapped(document_diff(a, b))


@PROPERTY
@given(blueprint_documents(), st.sampled_from(sorted(NAMED_BY)), st.data())
def test_inserting_a_named_item_anywhere_is_exactly_one_addition(
    document: Doc, section: str, data: st.DataObject
) -> None:
    key = NAMED_BY[section]
    items = document.get(section)
    if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get(key), str) for i in items):
        items = []
        document = document | {section: items}
    if len({i[key] for i in items}) != len(items):
        return  # repeated names: not a named list
    new = {key: "an-unused-name-\u2603", "purpose": "added"}
    after = copy.deepcopy(document)
    after[section].insert(data.draw(st.integers(0, len(items))), new)

    assert document_diff(document, after) == [Change(path=f"{section}[{key}={new[key]}]", op=Op.ADDED, after=new)]
