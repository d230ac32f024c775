"""Segue: extend a played melody by a few seconds with a trained GRU encoder-decoder."""

from importlib.metadata import PackageNotFoundError, version

from .generate import ExtendError, extend
from .midi_io import Melody, MidiError, read_midi, write_midi
from .notes import Note, melody_line

__all__ = ["ExtendError", "Melody", "MidiError", "Note", "extend", "melody_line", "read_midi", "write_midi"]
try:  # the version is written once, in pyproject.toml
    __version__ = version("segue")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
