"""Values from a known set: an unknown one is a usage error (exit 2) that names the closest match,
never an empty result. Fixed sets are option types; sets known only at run time (schema and
playbook names) are checked with `require_known`."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

import click

__all__ = ["OneOf", "require_known", "unknown_value"]


def unknown_value(value: str, options: Iterable[str], what: str) -> str:
    """``unknown status `waitin`; did you mean `waiting`? (known: a, b, c)``."""
    known = sorted(set(options))
    close = difflib.get_close_matches(value, known, n=1, cutoff=0.6)
    if not close:  # a case slip (`note` for `Note`) is the commonest typo of a name
        close = [k for k in known if k.lower() == value.lower()][:1]
    hint = f"; did you mean `{close[0]}`?" if close else ""
    listed = ", ".join(known[:20]) + (", …" if len(known) > 20 else "") if known else "none"
    return f"unknown {what} `{value}`{hint} (known: {listed})"


def require_known(value: str, options: Iterable[str], what: str, param_hint: str | None = None) -> None:
    """Raise a usage error (exit 2) unless ``value`` is one of ``options``."""
    options = list(options)
    if value not in options:
        raise click.BadParameter(unknown_value(value, options, what), param_hint=param_hint)


class OneOf(click.Choice):  # type: ignore[type-arg]
    """`click.Choice` whose error names the closest choice."""

    def __init__(self, choices: Sequence[str], what: str) -> None:
        super().__init__(choices)
        self.what = what

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            self.fail(unknown_value(str(value), [str(c) for c in self.choices], self.what), param, ctx)
