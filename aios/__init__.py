"""aios: playbooks and policies in git, compiled into a checked plan and run durably."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
