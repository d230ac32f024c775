"""Segue: extend a played melody by a few seconds with a trained GRU encoder-decoder."""

from .generate import ExtendError, extend
from .midi_io import Melody, MidiError, read_midi, write_midi
from .notes import Note, melody_line

__all__ = ["ExtendError", "Melody", "MidiError", "Note", "extend", "melody_line", "read_midi", "write_midi"]
__version__ = "0.1.0"
