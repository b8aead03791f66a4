"""The errors the ``fl`` package raises on its own (secagg's errors pass through)."""

from __future__ import annotations


class FLError(Exception):
    """Root of the errors raised by ``fl``."""


class ConfigError(FLError, ValueError):
    """A setting from the command line or a TOML file is missing, unknown or out of range.

    The message is one line meant for a person: ``python -m fl`` prints it and exits 2.
    """


class FlattenError(FLError, ValueError):
    """A model cannot be flattened to float32 and restored exactly, or a vector does not
    fit the model it is restored into."""


class UpdateError(FLError, ValueError):
    """Updates or weights handed to an aggregator have the wrong shape, type or range."""
