"""`--json` and `--format json`: every command that prints JSON takes both spellings, through one
decorator, so no command accepts one and refuses the other."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from aios.cli.choices import OneOf

__all__ = ["json_option", "format_option"]

F = TypeVar("F", bound=Callable[..., Any])


def _output_options(formats: tuple[str, ...], json_help: str, dest: str) -> Callable[[F], F]:
    """Add `--json` and `--format FORMAT` to a command; it receives the chosen format as ``dest``:
    a bool (JSON or not) for ``as_json``, else the format's name. Asking for two different formats
    (`--json --format text`) is a usage error."""

    def decorate(f: F) -> F:
        @functools.wraps(f)
        def command(*args: Any, json_flag: bool, output_format: str | None, **kwargs: Any) -> Any:
            if json_flag and output_format not in (None, "json"):
                raise click.UsageError(f"--json and --format {output_format} ask for different formats")
            chosen = "json" if json_flag else output_format or formats[0]
            kwargs[dest] = chosen == "json" if dest == "as_json" else chosen
            return f(*args, **kwargs)

        names = ", ".join(formats)
        with_format = click.option("--format", "output_format", type=OneOf(formats, "format"), default=None,
                                   help=f"Output format: {names} (default: {formats[0]}).")(command)
        with_json = click.option("--json", "json_flag", is_flag=True, help=f"{json_help} (= --format json)")
        return with_json(with_format)  # type: ignore[return-value]

    return decorate


def json_option(help_text: str = "Print JSON.") -> Callable[[F], F]:
    """`--json` / `--format text|json`; the command receives ``as_json: bool``."""
    return _output_options(("text", "json"), help_text, "as_json")


def format_option(*formats: str, help_text: str = "Print JSON.") -> Callable[[F], F]:
    """`--format F` (the first of ``formats`` by default) and `--json` for `--format json`; the
    command receives ``fmt: str``."""
    assert "json" in formats
    return _output_options(formats, help_text, "fmt")
