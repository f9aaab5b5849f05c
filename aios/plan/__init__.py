"""The compiled, immutable execution plan (types only)."""

from aios.plan.plan import *  # noqa: F403
from aios.plan.plan import __all__ as _plan_all
from aios.plan.types import ANY, FieldDef, FieldType, RecordType, TypeKind

__all__ = [*_plan_all, "ANY", "FieldDef", "FieldType", "RecordType", "TypeKind"]
