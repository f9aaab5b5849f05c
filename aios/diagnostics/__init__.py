"""Diagnostics: one value type, one registry of codes, one renderer per format."""

from aios.diagnostics.codes import CODES, Code
from aios.diagnostics.diagnostic import Diagnostic, DiagnosticSink, Related, Severity

__all__ = ["CODES", "Code", "Diagnostic", "DiagnosticSink", "Related", "Severity"]
