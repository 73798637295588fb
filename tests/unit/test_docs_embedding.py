"""The API reference embeds the OpenAPI document in a `<script type="application/json">` (entrypoints/http/docs.py):
whatever a description says, it stays one inert text node that decodes to the same document."""

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from entrypoints.http.docs import embedded_json


def test_a_closing_tag_in_the_document_cannot_end_its_element() -> None:
    document = msgspec.json.encode({"description": "</script><script>alert(1)</script> & <!-- -->"})
    embedded = embedded_json(document)
    assert b"<" not in embedded
    assert b">" not in embedded
    assert msgspec.json.decode(embedded) == msgspec.json.decode(document)


@given(st.recursive(st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=20))
def test_any_document_survives_embedding_and_has_no_angle_bracket_left(value: object) -> None:
    embedded = embedded_json(msgspec.json.encode(value))
    assert b"<" not in embedded
    assert b">" not in embedded
    assert msgspec.json.decode(embedded) == value
