"""The old system's blueprint shapes (docs/blueprint-shapes.md): plain strings as items, `expected_response`, extra
fields, and the old agent row an imported agent's version 1 holds. Each is saved as written and compiled as what it
means: the properties compare a document mixing old and new shapes with its new-shape equivalent, written here."""

import copy
import json
import random
import re
from pathlib import Path
from typing import Any, Final

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.blueprints import saving_violations
from domain.compiler import compile_blueprint, render_prompt, validate
from domain.document import SECTION_ORDER, UNKNOWN_FIELD, UNKNOWN_SECTION, read_blueprint
from domain.errors import Violation
from tests.strategies import (
    Doc,
    blueprint_documents,
    broken_documents,
    json_values,
    required_texts,
    shuffled,
    texts,
)

DOCS: Final = Path(__file__).resolve().parents[2] / "docs" / "blueprint-shapes.md"
PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
IDENTITY: Final = {"name": "Helpdesk", "role": "Support agent", "primary_purpose": "Answer questions about orders"}
IDENTITY_DOC: Final[Doc] = {"identity": IDENTITY}

# Written here again on purpose, as in tests/strategies.py: the field a plain string stands for, by section.
PLAIN: Final = {"capabilities": "task", "tools": "name", "knowledge_sources": "source"}
# What Ami put in `identity` and `monitoring` besides the fields this service reads (ami/orchestrator.py @ ff56cb3).
AMI_IDENTITY: Final = ("language", "introduction", "value_proposition")
AMI_MONITORING: Final = ("reporting_method", "metrics_tracked", "fallback_response", "escalation_method")


# Any JSON value but NUL in strings, which PostgreSQL cannot store and a save refuses whatever the shape.
JSON_VALUES: Final[st.SearchStrategy[Any]] = json_values().filter(lambda value: "\\u0000" not in json.dumps(value))


def fields(violations: list[Violation]) -> list[str]:
    return [violation.field for violation in violations]


def blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# -- examples ---------------------------------------------------------------------------------------------------


def test_plain_strings_are_items_with_that_field() -> None:
    old = IDENTITY_DOC | {"capabilities": ["Track orders"], "tools": ["order_lookup"], "knowledge_sources": ["FAQ"]}
    new = IDENTITY_DOC | {
        "capabilities": [{"task": "Track orders"}],
        "tools": [{"name": "order_lookup"}],
        "knowledge_sources": [{"source": "FAQ"}],
    }

    compiled = compile_blueprint(old)

    assert saving_violations(old) == []
    assert compiled.ok, compiled.violations
    assert compiled.prompt == render_prompt(read_blueprint(new))
    assert "- order_lookup\n" in compiled.prompt
    no_purpose = "no purpose: a plain string gives the name only, so the model is not told when to use it"
    assert compiled.warnings == [Violation(field="tools[0].purpose", message=no_purpose)]
    assert fields(compile_blueprint(new).violations) == ["tools[0].purpose"]  # the object could have said it


def test_a_blank_plain_string_is_missing_its_field() -> None:
    doc = IDENTITY_DOC | {"capabilities": [" "], "tools": ["", "ok"], "knowledge_sources": [""]}

    compiled = compile_blueprint(doc)

    assert fields(compiled.violations) == ["capabilities[0].task", "tools[0].name"]
    assert fields(compiled.warnings) == ["tools[1].purpose"]  # a blank one is a violation, not also a warning


def test_a_plain_string_holding_a_lone_surrogate_is_read_like_any_other() -> None:
    # msgspec's fast conversion raises UnicodeEncodeError, not a ValidationError, on a string item holding one
    doc, equivalent = (IDENTITY_DOC | {"knowledge_sources": [item]} for item in ("\ud800", {"source": "\ud800"}))

    assert compile_blueprint(doc).prompt == render_prompt(read_blueprint(equivalent))


def test_items_that_are_neither_objects_nor_strings_are_refused_on_save() -> None:
    doc = IDENTITY_DOC | {"tools": ["ok", 3, None], "test_scenarios": ["Where is my order?"]}

    assert saving_violations(doc) == [
        Violation(field="tools[1]", message="must be an object or a string"),
        Violation(field="test_scenarios[0]", message="must be an object"),
    ]


def test_expected_response_is_expected() -> None:
    scenario = {"question": "Where is my order?", "expected_response": "What is your order number?"}
    doc = IDENTITY_DOC | {"test_scenarios": [scenario]}

    compiled = compile_blueprint(doc)

    assert compiled.ok, compiled.violations
    assert compiled.warnings == []
    assert "  Expected answer: What is your order number?\n" in str(compiled.prompt)
    renamed = {"question": "Where is my order?", "expected": "What is your order number?"}
    assert compiled.prompt == compile_blueprint(IDENTITY_DOC | {"test_scenarios": [renamed]}).prompt


def test_expected_wins_over_expected_response_unless_it_is_blank() -> None:
    both = {"question": "Q?", "expected": "From expected.", "expected_response": "From the old name."}
    blank_new = {"question": "Q?", "expected": " ", "expected_response": "From the old name."}

    first = compile_blueprint(IDENTITY_DOC | {"test_scenarios": [both]})
    second = compile_blueprint(IDENTITY_DOC | {"test_scenarios": [blank_new, {"question": "Q?"}]})

    assert "From expected." in str(first.prompt)
    assert "From the old name." not in str(first.prompt)
    assert fields(first.warnings) == ["test_scenarios[0].expected_response"]
    assert fields(second.violations) == ["test_scenarios[1].expected"]
    assert second.warnings == []
    assert saving_violations(IDENTITY_DOC | {"test_scenarios": [{"question": "Q?", "expected_response": 7}]}) == [
        Violation(field="test_scenarios[0].expected_response", message="must be a string")
    ]


def test_what_ami_stored_saves_and_compiles_with_its_extra_fields_as_warnings() -> None:
    """The blueprint of ami/orchestrator._convert_skeleton_to_blueprint @ ff56cb3, filled in as Ami filled it."""
    ami: Doc = {
        "identity": {
            "name": "Sales Buddy",
            "role": "Sales assistant for a furniture shop",
            "primary_purpose": "Help shoppers choose furniture",
            "language": "vietnamese",
            "introduction": "Hi, I'm Sales Buddy!",
            "value_proposition": "I'm here to help you succeed.",
        },
        "capabilities": [{"task": "Recommend products", "description": "Handle tasks efficiently", "examples": []}],
        "personality": {"tone": "professional", "style": "helpful", "analogy": "helpful assistant"},
        "sample_conversation": {},
        "knowledge_sources": [{"source": "Catalog", "type": "document", "update_frequency": "weekly"}],
        "tools": [
            {
                "name": "Shopify",
                "purpose": "Integration with Shopify",
                "trigger": "When needed",
                "action": "Perform action",
            }
        ],
        "monitoring": {
            "reporting_method": "email",
            "metrics_tracked": ["conversions"],
            "fallback_response": "Let me find a colleague.",
            "escalation_method": "human",
        },
        "test_scenarios": [{"question": "Do you have oak tables?", "expected_response": "Yes, three models."}],
        "workflow": {"steps": ["greet", "ask", "recommend"], "visual_flow": "[Shopper] -> [Buddy]"},
        "success_criteria": ["more sales"],
        "potential_challenges": ["stock"],
        "agent_type": "sales",
        "target_users": "shoppers",
    }
    stored = copy.deepcopy(ami)

    compiled = compile_blueprint(ami)

    assert saving_violations(ami) == []
    assert compiled.ok, compiled.violations
    assert ami == stored
    assert "Expected answer: Yes, three models." in str(compiled.prompt)
    sections = sorted(key for key in ami if key not in SECTION_ORDER)  # personality, sample_conversation, …
    assert compiled.warnings == [
        *(Violation(field=key, message=UNKNOWN_SECTION) for key in sections),
        *(Violation(field=f"identity.{key}", message=UNKNOWN_FIELD) for key in sorted(AMI_IDENTITY)),
        *(Violation(field=f"tools[0].{key}", message=UNKNOWN_FIELD) for key in ("action", "trigger")),
        *(Violation(field=f"monitoring.{key}", message=UNKNOWN_FIELD) for key in sorted(AMI_MONITORING)),
    ]


# -- the old agent row ------------------------------------------------------------------------------------------

ROW: Final[Doc] = {
    "system_prompt": {"role": "customer_support", "tone": "friendly", "language": "Vietnamese"},
    "tools_list": ["order_lookup"],
    "knowledge_list": ["returns-policy.pdf"],
}


def test_an_old_row_needs_only_what_the_old_system_never_had() -> None:
    compiled = compile_blueprint(ROW, agent_name="Helpdesk")

    assert compiled.violations == [Violation(field="identity.primary_purpose", message="required, non-blank")]
    assert compiled.violations == validate(ROW, agent_name="Helpdesk")
    assert fields(compiled.warnings) == ["tools_list[0]"]
    assert fields(compile_blueprint(ROW).violations) == ["identity.name", "identity.primary_purpose"]  # no agent


def test_an_old_row_with_its_missing_field_added_compiles_to_its_new_shape_prompt() -> None:
    doc = ROW | {"identity": {"primary_purpose": "Answer questions about orders"}}
    new_shape = {
        "identity": {
            "name": "Helpdesk",
            "role": "customer_support",
            "personality": "friendly",
            "primary_purpose": "Answer questions about orders",
        },
        "tools": ["order_lookup"],
        "knowledge_sources": ["returns-policy.pdf"],
    }

    prompt = compile_blueprint(doc, agent_name="Helpdesk").prompt
    expected = compile_blueprint(new_shape).prompt

    assert prompt is not None
    assert expected is not None
    general = expected.index("## General instructions")
    assert prompt == expected[:general] + "## Instructions\n\n- Language: Vietnamese.\n\n" + expected[general:]


def test_what_ami_wrote_into_an_old_row_becomes_identity_and_instructions() -> None:
    row = {
        "system_prompt": {
            "base_instruction": "You are Sales Buddy, a specialist in Vietnamese furniture.\nAlways greet warmly.",
            "agent_type": "sales",
            "language": "vietnamese",
            "specialization": ["recommendations", "pricing"],
            "personality": {"tone": "warm", "style": "brief"},
            "target_users": "small shop owners",
            "temperature": 0.7,
            "created_at": "2025-06-02T10:00:00",
            "created_from": "collaborative_skeleton",
        },
        "tools_list": ["search", " ", None, 7, {"name": "crm", "purpose": "Look up a customer"}, {"purpose": "x"}],
        "knowledge_list": "catalog.pdf",
        "identity": {"primary_purpose": "Sell furniture"},
    }

    compiled = compile_blueprint(row, agent_name="Sales Buddy")

    assert compiled.ok, compiled.violations
    assert str(compiled.prompt).startswith(
        "You are Sales Buddy.\nYour role: sales.\nYour primary purpose: Sell furniture.\n"
        "Your personality: style: brief; tone: warm.\n"
    )
    assert (
        "## Instructions\n\nYou are Sales Buddy, a specialist in Vietnamese furniture.\nAlways greet warmly.\n\n"
        "- Language: vietnamese.\n- Specialization: recommendations, pricing.\n- Target users: small shop owners.\n\n"
        "## General instructions"
    ) in str(compiled.prompt)
    assert "- search\n- crm: Look up a customer.\n" in str(compiled.prompt)
    assert [(w.field, w.message.split(",")[0]) for w in compiled.warnings] == [
        ("system_prompt.created_at", "the old system's bookkeeping"),
        ("system_prompt.created_from", "the old system's bookkeeping"),
        ("system_prompt.temperature", "not text"),
        ("tools_list[0]", "no purpose: the old row gives the tool's name only"),
        ("tools_list[3]", "neither a name nor a tool object; left out"),
        ("tools_list[5]", "no name; left out"),
        ("knowledge_list", "not a list"),
    ]


def test_the_document_s_own_identity_wins_over_the_row_s() -> None:
    doc = ROW | {"identity": IDENTITY}

    compiled = compile_blueprint(doc, agent_name="Another name")

    assert str(compiled.prompt).startswith("You are Helpdesk.\nYour role: Support agent.\n")
    assert Violation(field="system_prompt.role", message="identity.role is given too and is read instead") in (
        compiled.warnings
    )


def test_a_text_system_prompt_is_the_old_prompt_itself() -> None:
    row: Doc = {"system_prompt": "  You are Helpdesk.\nBe kind.  ", "tools_list": None, "knowledge_list": []}

    compiled = compile_blueprint(row | {"identity": {"role": "Support", "primary_purpose": "Help"}}, agent_name="H")

    assert "## Instructions\n\nYou are Helpdesk.\nBe kind.\n\n## General" in str(compiled.prompt)
    assert fields(compile_blueprint(row, agent_name="H").violations) == ["identity.role", "identity.primary_purpose"]


# -- the documentation's examples -------------------------------------------------------------------------------


def test_the_examples_of_the_documentation_are_what_the_compiler_says() -> None:
    text = DOCS.read_text(encoding="utf-8")
    ami, row, added = (json.loads(block) for block in re.findall(r"^```json\n(.*?)^```$", text, re.M | re.S))
    ami_warnings, ami_prompt, row_warnings, live_prompt = re.findall(r"^```text\n(.*?)\n^```$", text, re.M | re.S)

    def said(warnings: list[Violation]) -> str:
        return "\n".join(f"{w.field}: {w.message}" for w in warnings)

    assert saving_violations(ami) == saving_violations(row) == []
    assert (said(compile_blueprint(ami).warnings), compile_blueprint(ami).prompt) == (ami_warnings, ami_prompt + "\n")
    compiled_row = compile_blueprint(row, agent_name="Helpdesk")
    assert fields(compiled_row.violations) == ["identity.primary_purpose"]
    assert said(compiled_row.warnings) == row_warnings
    assert compile_blueprint(row | added, agent_name="Helpdesk").prompt == live_prompt + "\n"


# -- properties: any mix of old and new item shapes -------------------------------------------------------------


@st.composite
def mixed_documents(draw: st.DrawFn) -> tuple[Doc, Doc, frozenset[str]]:
    """(a document mixing old and new shapes, its new-shape equivalent, the fields a plain string cannot state):
    a document that compiles or not (the breaker blanks required fields), with items turned into plain strings,
    `expected` renamed `expected_response` (or both given), and Ami's extra fields added to identity and monitoring."""
    base = draw(blueprint_documents() | broken_documents().map(lambda case: case[0]))
    mixed, equivalent = copy.deepcopy(base), copy.deepcopy(base)
    excused: set[str] = set()
    for section, field in PLAIN.items():
        items = mixed.get(section)
        for index in range(len(items) if isinstance(items, list) else 0):
            if draw(st.integers(0, 2)) == 0:
                text = draw(texts() | required_texts())
                mixed[section][index], equivalent[section][index] = text, {field: text}
                if section == "tools":
                    excused.add(f"tools[{index}].purpose")
    scenarios, twins = mixed.get("test_scenarios"), equivalent.get("test_scenarios")
    pairs = zip(scenarios, twins, strict=True) if isinstance(scenarios, list) and isinstance(twins, list) else ()
    for item, twin in pairs:
        how = draw(st.sampled_from(("keep", "rename", "both")))
        if item is None or how == "keep":
            continue
        if how == "rename" and "expected" in item:
            item["expected_response"] = item.pop("expected")
        elif how == "both":
            item["expected_response"] = old = draw(texts())
            if blank(item.get("expected")):  # the rule written out: `expected` unless it is blank
                twin["expected"] = old
    for section, extras in (("identity", AMI_IDENTITY), ("monitoring", AMI_MONITORING)):
        if isinstance(mixed.get(section), dict):
            mixed[section] |= draw(st.fixed_dictionaries({}, optional=dict.fromkeys(extras, JSON_VALUES)))
    return mixed, equivalent, frozenset(excused)


@PROPERTY
@given(mixed_documents())
def test_any_mix_of_old_and_new_shapes_saves(case: tuple[Doc, Doc, frozenset[str]]) -> None:
    mixed, _, _ = case

    assert saving_violations(mixed) == []


@PROPERTY
@given(mixed_documents())
def test_a_mix_compiles_iff_its_new_shape_equivalent_does_but_for_what_strings_cannot_state(
    case: tuple[Doc, Doc, frozenset[str]],
) -> None:
    mixed, equivalent, excused = case
    stored = copy.deepcopy(mixed)

    compiled, expected = compile_blueprint(mixed), compile_blueprint(equivalent)

    assert compiled.violations == [v for v in expected.violations if v.field not in excused]
    assert compiled.ok == (not compiled.violations)
    if not excused:
        assert compiled.ok == expected.ok
    assert mixed == stored  # read, never rewritten
    plain_tools = [i for i, item in enumerate(mixed.get("tools") or []) if isinstance(item, str) and not blank(item)]
    assert {f"tools[{i}].purpose" for i in plain_tools} <= {v.field for v in compiled.warnings}


@PROPERTY
@given(mixed_documents())
def test_a_mix_renders_the_prompt_of_its_new_shape_equivalent(case: tuple[Doc, Doc, frozenset[str]]) -> None:
    mixed, equivalent, _ = case

    compiled, expected = compile_blueprint(mixed), compile_blueprint(equivalent)

    if compiled.ok:
        assert compiled.prompt == render_prompt(read_blueprint(equivalent))
    if compiled.ok and expected.ok:
        assert compiled.prompt == expected.prompt


@PROPERTY
@given(mixed_documents(), st.randoms(use_true_random=False))
def test_a_mix_compiles_the_same_whatever_its_key_order(
    case: tuple[Doc, Doc, frozenset[str]], rnd: random.Random
) -> None:
    mixed, _, _ = case

    assert compile_blueprint(shuffled(mixed, rnd)) == compile_blueprint(mixed)


# -- properties: the old agent row ------------------------------------------------------------------------------

_IDENTITY_KEYS: Final = ("name", "role", "agent_type", "personality", "tone", "primary_purpose", "purpose")
_OTHER_KEYS: Final = ("base_instruction", "language", "target_users", "use_cases", "created_at", "temperature", "")
_NAMES: Final = st.lists(st.none() | texts() | required_texts(), max_size=4)
ROW_COLUMNS: Final = st.fixed_dictionaries(
    {},
    optional={
        "system_prompt": st.dictionaries(st.sampled_from(_IDENTITY_KEYS + _OTHER_KEYS), JSON_VALUES | texts())
        | JSON_VALUES,
        "tools_list": _NAMES | JSON_VALUES,
        "knowledge_list": _NAMES | JSON_VALUES,
    },
).filter(bool)


@PROPERTY
@given(ROW_COLUMNS, st.none() | required_texts(), st.randoms(use_true_random=False))
def test_whatever_an_old_row_holds_it_saves_and_compiles_or_names_only_identity_fields(
    row: Doc, agent_name: str | None, rnd: random.Random
) -> None:
    compiled = compile_blueprint(row, agent_name=agent_name)

    assert saving_violations(row) == []
    assert set(fields(compiled.violations)) <= {"identity.name", "identity.role", "identity.primary_purpose"}
    assert ("identity.name" in fields(compiled.violations)) <= (agent_name is None)
    assert compiled.ok == (not compiled.violations)
    assert compile_blueprint(shuffled(row, rnd), agent_name=agent_name) == compiled


def test_a_key_of_the_old_prompt_may_hold_brackets_and_its_warning_still_comes_in_column_order() -> None:
    """Found by the property above: a key `[:` once broke the warnings' sort (it read an item index there)."""
    row: Doc = {"system_prompt": {"[:": 1, "x[2]": [3]}, "tools_list": ["lookup", 7]}
    compiled = compile_blueprint(row, agent_name="Old")
    warned = fields(compiled.warnings)
    assert warned[:2] == ["system_prompt.[:", "system_prompt.x[2]"], warned
    assert all(field.startswith("tools_list") for field in warned[2:]), warned


@PROPERTY
@given(st.lists(required_texts(), max_size=4), st.lists(required_texts(), max_size=4), required_texts())
def test_an_old_row_s_lists_are_plain_string_tools_and_sources(
    tools: list[str], sources: list[str], agent_name: str
) -> None:
    identity = {"role": "Support agent", "primary_purpose": "Answer questions"}
    row = {"system_prompt": identity, "tools_list": tools, "knowledge_list": sources}
    new_shape = {"identity": identity | {"name": agent_name}, "tools": tools, "knowledge_sources": sources}

    compiled = compile_blueprint(row, agent_name=agent_name)

    assert compiled.ok, compiled.violations
    assert compiled.prompt == compile_blueprint(new_shape).prompt
    assert fields(compiled.warnings) == [f"tools_list[{index}]" for index in range(len(tools))]
