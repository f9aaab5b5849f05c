"""The index schema: field names, the tantivy schema, and how a document's values are encoded into it.

| field      | type / analyzer                 | role                                               |
|------------|---------------------------------|----------------------------------------------------|
| id         | text, raw, stored               | unique id; updates are delete-by-id then add       |
| grp        | text, raw, stored               | source group (file / record / run) for bulk replace|
| kind       | text, raw, stored, fast         | record · note · summary · episode (filter, stats)  |
| title      | text, aios_en, stored           | boosted title                                      |
| body       | text, aios_en, stored           | ranked text, snippets, phrase matching             |
| words      | text, aios_words, basic         | unstemmed words for typo tolerance                 |
| tags       | text, raw, stored, fast         | lowercased tags (all-of filter)                    |
| schema     | text, raw, stored               | record schema (filter)                             |
| updated    | i64 µs since epoch, fast        | recency, since/until                               |
| created    | i64 µs since epoch, stored      |                                                    |
| fields     | json, raw, fast                 | record fields, filter-encoded (see below)          |
| meta       | bytes, stored                   | provenance and the record fields as JSON           |
| terms      | bytes, stored                   | the body's analyzed tokens (feedback reads these)  |

Filter encoding of record fields (``fields``), chosen so every filter works with tantivy's JSON
columns: strings get a ``=`` prefix (otherwise tantivy turns RFC 3339 strings into dates), numbers
become fixed-point integers with three decimals shifted to be non-negative (tantivy stores integral
JSON numbers as u64 and panics on a fractional bound against them). Strings longer than
``MAX_FILTER_STRING`` are not filterable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aios.memory.analysis import STEMMED, WORDS

__all__ = [
    "SCHEMA_VERSION", "F_ID", "F_GROUP", "F_KIND", "F_TITLE", "F_BODY", "F_WORDS", "F_TAGS", "F_SCHEMA",
    "F_UPDATED", "F_CREATED", "F_FIELDS", "F_META", "F_TERMS", "build_schema", "encode_filter_fields",
    "encode_scalar", "encode_number", "to_micros", "from_micros",
]

#: Bump when the schema or an analyzer changes: an index written under another version is rebuilt.
SCHEMA_VERSION = 1

F_ID, F_GROUP, F_KIND, F_TITLE, F_BODY, F_WORDS = "id", "grp", "kind", "title", "body", "words"
F_TAGS, F_SCHEMA, F_UPDATED, F_CREATED, F_FIELDS, F_META = "tags", "schema", "updated", "created", "fields", "meta"
F_TERMS = "terms"

MAX_FILTER_STRING = 200
_NUMBER_SCALE = 1000
_NUMBER_OFFSET = 2**62
_NUMBER_LIMIT = 2**61 // _NUMBER_SCALE


def build_schema() -> Any:
    import tantivy

    sb = tantivy.SchemaBuilder()
    sb.add_text_field(F_ID, stored=True, tokenizer_name="raw")
    sb.add_text_field(F_GROUP, stored=True, tokenizer_name="raw")
    sb.add_text_field(F_KIND, stored=True, fast=True, tokenizer_name="raw")
    sb.add_text_field(F_TITLE, stored=True, tokenizer_name=STEMMED)
    sb.add_text_field(F_BODY, stored=True, tokenizer_name=STEMMED)
    sb.add_text_field(F_WORDS, stored=False, tokenizer_name=WORDS, index_option="basic")
    sb.add_text_field(F_TAGS, stored=True, fast=True, tokenizer_name="raw")
    sb.add_text_field(F_SCHEMA, stored=True, tokenizer_name="raw")
    sb.add_integer_field(F_UPDATED, stored=True, indexed=True, fast=True)
    sb.add_integer_field(F_CREATED, stored=True)
    sb.add_json_field(F_FIELDS, stored=False, fast=True, tokenizer_name="raw")
    sb.add_bytes_field(F_META, stored=True)
    sb.add_bytes_field(F_TERMS, stored=True)
    return sb.build()


def to_micros(value: datetime) -> int:
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return int(aware.timestamp() * 1_000_000)


def from_micros(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1_000_000, tz=UTC)


def encode_number(value: float, *, round_up: bool | None = None) -> int:
    """Fixed-point, shifted to be non-negative. ``round_up`` picks ceil/floor for range bounds."""
    scaled = value * _NUMBER_SCALE
    if round_up is True:
        n = math.ceil(scaled - 1e-9)
    elif round_up is False:
        n = math.floor(scaled + 1e-9)
    else:
        n = round(scaled)
    limit = _NUMBER_LIMIT * _NUMBER_SCALE
    return max(-limit, min(limit, n)) + _NUMBER_OFFSET


def encode_scalar(value: Any) -> Any:
    """The filter encoding of one leaf value (``None`` when the value is not filterable)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return encode_number(float(value)) if math.isfinite(value) else None
    if isinstance(value, str):
        return "=" + value if len(value) <= MAX_FILTER_STRING else None
    return None


def _encode(value: Any) -> Any:
    if isinstance(value, Mapping):
        out = {str(k): _encode(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != [] and v != {}} or None
    if isinstance(value, (list, tuple)):
        items = [_encode(v) for v in value]
        return [v for v in items if v is not None and not isinstance(v, (list, dict))] or None
    return encode_scalar(value)


def encode_filter_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    encoded = _encode(fields)
    return encoded if isinstance(encoded, dict) else {}
