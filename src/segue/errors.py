"""Errors shown to people: one line each."""

from __future__ import annotations


def first_line(error: BaseException) -> str:
    """An exception's message, first line only, or its type when it has no message."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
