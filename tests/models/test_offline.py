"""The offline model: deterministic, schema-satisfying output derived from the input."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aios.models import ModelAdapter, ModelRequest
from aios.models.offline import generate
from aios.plan.plan import ModelRoute
from aios.plan.types import FieldDef, FieldType, RecordType, TypeKind
from aios.runtime.validation import validate_record

LEAD = {"name": "Ada Lindqvist", "email": "ada@fjordtech.example", "budget_eur": 8000,
        "message": "We need articles about heat-pump retrofits for homeowners. Urgent, please.",
        "topics": ["heat pumps", "retrofit"]}


def _rt(**fields: FieldType) -> RecordType:
    return RecordType("T", tuple(FieldDef(k, v, required=not v.optional) for k, v in fields.items()))


def test_same_input_same_output_and_valid() -> None:
    rt = _rt(title=FieldType(TypeKind.STR), brief=FieldType(TypeKind.STR), budget_eur=FieldType(TypeKind.DECIMAL),
             topics=FieldType(TypeKind.LIST, items=FieldType(TypeKind.STR)),
             urgency=FieldType(TypeKind.ENUM, values=("low", "normal", "urgent")),
             email=FieldType(TypeKind.EMAIL), due=FieldType(TypeKind.DATE, optional=True))
    a, b = generate(rt, LEAD), generate(rt, json.loads(json.dumps(LEAD)))
    assert a == b
    _, errors = validate_record(rt, a)
    assert errors == []
    # pulled from the input where a field of the same name fits
    assert a["budget_eur"] == 8000 and a["topics"] == ["heat pumps", "retrofit"]
    assert a["email"] == "ada@fjordtech.example"
    # an enum value the input mentions wins
    assert a["urgency"] == "urgent"
    assert "heat-pump" in a["brief"]


def test_different_input_different_output() -> None:
    rt = _rt(ref=FieldType(TypeKind.REF, ref="Customer"), n=FieldType(TypeKind.INT))
    assert generate(rt, {"x": "one"}) != generate(rt, {"x": "two"})


def test_field_of_wrong_type_in_input_is_not_copied() -> None:
    rt = _rt(budget_eur=FieldType(TypeKind.INT))
    out = generate(rt, {"budget_eur": "a lot"})
    assert isinstance(out["budget_eur"], int)


def test_no_schema_gives_text() -> None:
    out = generate(None, LEAD)
    assert isinstance(out, str) and "heat-pump" in out


def test_adapter_routes_offline_without_importing_litellm() -> None:
    res = ModelAdapter().complete(ModelRequest(ModelRoute("default", "offline"), "role", "prompt", LEAD,
                                               _rt(title=FieldType(TypeKind.STR))))
    assert res.model == "offline" and res.usage.cost_usd == 0.0 and res.usage.prompt_tokens > 0
    assert isinstance(res.output["title"], str)
    # in a fresh process (this one may have imported litellm for other tests already)
    code = ("import sys\n"
            "from aios.models import ModelAdapter, ModelRequest\n"
            "from aios.plan.plan import ModelRoute\n"
            "ModelAdapter().complete(ModelRequest(ModelRoute('d', 'offline'), 'r', 'p', {'a': 'b'}, None))\n"
            "import aios.runtime.interpreter\n"
            "print('litellm' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


_SCALARS = [TypeKind.STR, TypeKind.INT, TypeKind.DECIMAL, TypeKind.BOOL, TypeKind.DATE, TypeKind.DATETIME,
            TypeKind.EMAIL, TypeKind.URL, TypeKind.ANY, TypeKind.OBJECT]


@st.composite
def field_types(draw: Any, depth: int = 0) -> FieldType:
    choice = draw(st.sampled_from(["scalar", "enum", "ref", "list"] if depth < 2 else ["scalar", "enum"]))
    optional = draw(st.booleans())
    if choice == "scalar":
        return FieldType(draw(st.sampled_from(_SCALARS)), optional)
    if choice == "enum":
        values = draw(st.lists(st.from_regex(r"[a-z]{1,8}", fullmatch=True), min_size=1, max_size=4, unique=True))
        return FieldType(TypeKind.ENUM, optional, values=tuple(values))
    if choice == "ref":
        return FieldType(TypeKind.REF, optional, ref="Thing")
    return FieldType(TypeKind.LIST, optional, items=draw(field_types(depth + 1)))


json_values = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=30),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                         max_size=4), max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True), field_types(), min_size=1, max_size=8),
       st.dictionaries(st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True), json_values, max_size=6))
def test_output_always_satisfies_the_schema(fields: dict[str, FieldType], payload: dict[str, Any]) -> None:
    rt = _rt(**fields)
    out = generate(rt, payload)
    _, errors = validate_record(rt, out)
    assert errors == [], (out, errors)
    assert generate(rt, payload) == out
