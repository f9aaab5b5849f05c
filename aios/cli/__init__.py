"""Thin command-line layer: each command builds a library object and calls one method."""
