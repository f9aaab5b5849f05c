"""The model adapter: one entry point for every model call.

The default route is the embedded offline model (no network, no key). Any other route goes through
litellm, which is imported only when such a route is actually called.
"""

from aios.models.adapter import BudgetExceeded, ModelAdapter, ModelError, ModelRequest, ModelResult

__all__ = ["ModelAdapter", "ModelRequest", "ModelResult", "ModelError", "BudgetExceeded"]
