"""litellm, imported on the first remote call (never at start-up) and kept quiet.

litellm prints a "Give Feedback / Get Help" banner (with raw colour codes) and a debugging tip for
every failed call, and logs through handlers of its own to stderr; aios reports every provider fault
itself, once, in its own words. So the banner is switched off and litellm's loggers get no handler
and do not propagate — unless the user set ``LITELLM_LOG`` to ask litellm for its own logging.
"""

from __future__ import annotations

import logging
import os
from typing import Any

__all__ = ["load_litellm"]

_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")


def load_litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    asked_for_logs = bool(os.environ.get("LITELLM_LOG"))
    import litellm

    litellm.suppress_debug_info = True
    if not asked_for_logs:
        for name in _LOGGERS:
            logger = logging.getLogger(name)
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            logger.addHandler(logging.NullHandler())
            logger.propagate = False
    return litellm
