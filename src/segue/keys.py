"""Keys and scales: names like "D major" or "F# minor", the key music21 hears in a melody (found
the way music21 finds it, without music21), and the pitches a key allows."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .notes import Note

SCALE_STEPS = {  # pitch classes above the tonic; minor is the natural minor, as music21's key scale
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
}
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
ACCIDENTALS = {"": 0, "#": 1, "♯": 1, "b": -1, "♭": -1, "-": -1}  # "-" is music21's flat
AUTO = "auto"
_KEY_PATTERN = re.compile(r"^\s*([A-Ga-g])([#♯b♭-]?)\s*(major|minor|maj|min|m)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class 0..11, C = 0
    mode: str  # "major" or "minor"

    def __post_init__(self) -> None:
        if self.mode not in SCALE_STEPS:
            raise ValueError(f"mode must be one of {sorted(SCALE_STEPS)}, got {self.mode!r}")
        if not 0 <= self.tonic <= 11:
            raise ValueError(f"tonic must be a pitch class 0..11, got {self.tonic!r}")

    @property
    def pitch_classes(self) -> frozenset[int]:
        return frozenset((self.tonic + step) % 12 for step in SCALE_STEPS[self.mode])

    def allows(self, pitch: int) -> bool:
        return pitch % 12 in self.pitch_classes

    def transposed(self, semitones: int) -> Key:
        return Key((self.tonic + semitones) % 12, self.mode)

    def __str__(self) -> str:
        return f"{NOTE_NAMES[self.tonic]} {self.mode}"


def pitch_name(pitch: int) -> str:
    """60 -> "C4" (scientific pitch notation: middle C is C4)."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def parse_key(text: str) -> Key:
    """"D major", "F# minor", "Bb", "c minor", "Am" -> Key. A bare tonic means major."""
    match = _KEY_PATTERN.match(text)
    if not match:
        raise ValueError(f"key must look like 'D major', 'F# minor' or 'auto', got {text!r}")
    letter, accidental, mode = match.groups()
    mode = (mode or "major").lower()
    mode = "minor" if mode in ("minor", "min", "m") else "major"
    return Key((LETTERS[letter.upper()] + ACCIDENTALS[accidental]) % 12, mode)


# Aarden's profiles from the Essen folk songs: music21's default key analysis ('key').
AARDEN_ESSEN = {
    "major": (17.7661, 0.145624, 14.9265, 0.160186, 19.8049, 11.3587, 0.291248, 22.062, 0.145624, 8.15494, 0.232998,
              4.95122),
    "minor": (18.2648, 0.737619, 14.0499, 16.8599, 0.702494, 14.4362, 0.702494, 18.6161, 4.56621, 1.93186, 7.37619,
              1.75623),
}


def detect_key(notes: list[Note]) -> Key:
    """The key music21's analysis finds in the notes (`Stream.analyze('key')`: the Aarden-Essen
    profile that correlates best with the pitch classes weighted by note length), computed here
    without music21; tests/test_keys.py checks that the two agree."""
    if not notes:
        raise ValueError("cannot find the key of no notes")
    weights = [0.0] * 12
    for n in notes:
        weights[n.pitch % 12] += max(n.duration, 0.01)
    # Ties go as in music21: to the higher tonic pitch class, then to minor.
    _, tonic, mode = max((_correlation(weights, profile), key.tonic, key.mode) for key, profile in _AARDEN_ESSEN_KEYS)
    return Key(tonic, mode)


# Krumhansl & Kessler's (1982) key profiles: how well each pitch class above the tonic fits.
PROFILES = {
    "major": (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88),
    "minor": (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17),
}


def _centered(values) -> list[float]:
    """Values minus their mean, scaled to length 1: a correlation is then one dot product."""
    mean = sum(values) / len(values)
    centered = [v - mean for v in values]
    norm = sum(c * c for c in centered) ** 0.5
    return [c / norm for c in centered]


def _rotated(profiles: dict[str, tuple[float, ...]]) -> list[tuple[Key, list[float]]]:
    """Every key with its mode's profile rotated to its tonic: the weight of each pitch class 0..11."""
    return [(Key(tonic, mode), [profile[(pc - tonic) % 12] for pc in range(12)])
            for mode, profile in profiles.items() for tonic in range(12)]


# Centered, so that a pitch-class histogram's correlation with a key's profile is the dot product
# divided by the histogram's own spread, the same for every key.
_KEY_PROFILES = [(key, _centered(profile)) for key, profile in _rotated(PROFILES)]
_PROFILE_MATRIX = np.array([profile for _, profile in _KEY_PROFILES])  # (24 keys, 12 pitch classes)
_AARDEN_ESSEN_KEYS = _rotated(AARDEN_ESSEN)


def key_of_pitches(pitches) -> Key:
    """The key whose profile best matches the pitch classes' counts (Krumhansl-Schmuckler, each
    note counted once): a quick, dependency-free estimate for where only pitches are known, as in
    the pitch mixture's long-term chain. `detect_key` (music21's analysis, by note length) is the one
    users see."""
    counts = np.bincount(np.asarray(pitches, np.int64) % 12, minlength=12)
    # The profiles are centered, so the histogram's mean drops out of the dot product. The first
    # best key wins a tie; none scoring above 0 (no pitch, or every class alike) is C major.
    scores = _PROFILE_MATRIX @ counts
    best = int(np.argmax(scores))
    return _KEY_PROFILES[best][0] if scores[best] > 0 else Key(0, "major")


def _correlation(a: list[float], b: list[float]) -> float:
    """Pearson's correlation, summed as music21 sums it (0 where either side is constant)."""
    mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
    cov = sum((x - mean_a) * (y - mean_b) for x, y in zip(a, b))
    norm = (sum((x - mean_a) ** 2 for x in a) * sum((y - mean_b) ** 2 for y in b)) ** 0.5
    return cov / norm if norm else 0.0


def resolve_key(key: str | Key | None, notes: list[Note]) -> Key | None:
    """None, a Key, a key name, or "auto" (the key found in `notes`) -> Key or None."""
    if key is None or isinstance(key, Key):
        return key
    if key.strip().lower() == AUTO:
        return detect_key(notes)
    return parse_key(key)


def in_key_ratio(notes: list[Note], key: Key) -> float:
    """Share of the notes' sounding time that is in the key's scale (0.0 for no notes)."""
    total = sum(n.duration for n in notes)
    if total <= 0:
        return 0.0
    return sum(n.duration for n in notes if key.allows(n.pitch)) / total
