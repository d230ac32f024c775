"""Shared fixtures. Everything is built in code: a few real corpus tunes, a tiny model trained on
them in seconds, and MIDI files written from mido messages."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import mido
import pytest
from hypothesis import settings

from segue import data, train
from segue.checkpoint import as_model, load_checkpoint, save_checkpoint
from segue.notes import Note

# No per-example deadline: these machines are shared and noisy. In CI the examples are derived
# from each test's name, so a red run is reproducible; locally every run explores new ones.
settings.register_profile("local", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, database=None, print_blob=True)
def in_ci() -> bool:
    """Whether this is a CI run (CI set to any true value: 1, true, yes, on), where a missing tool
    is a failure, not a skip."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes", "on")


settings.load_profile("ci" if in_ci() else "local")


def require_fluidsynth() -> None:
    """Skip the calling test module without FluidSynth and a SoundFont; under CI, fail instead."""
    from segue.audio import AudioError, find_soundfont

    try:
        find_soundfont()
        import fluidsynth  # noqa: F401
    except (AudioError, ImportError, OSError) as missing:
        if in_ci():
            raise RuntimeError(f"CI needs FluidSynth and a SoundFont (scripts/install-system-packages audio): {missing}")
        pytest.skip(f"FluidSynth or a SoundFont is missing: {missing}", allow_module_level=True)

pytest_plugins = ["pages"]  # the browser fixtures of the page's tests

# The shipped network's training checkpoint, in the source tree (the package holds its model file).
SHIPPED_CHECKPOINT = Path(__file__).resolve().parents[1] / "models" / "segue-gru.pt"
SMALL_CORPUS = ("oneills1850/0001-0050.abc", "bach/bwv1.6.mxl", "bach/bwv10.7.mxl")


def played(pitches: list[int], spacing: float = 0.4, held: float = 0.85, start: float = 0.1, velocity: int = 90) -> list[Note]:
    """A melody as a person plays it: evenly spaced onsets with a little human unevenness."""
    wobble = [0.0, 0.012, -0.008, 0.005, -0.011, 0.009, -0.004]
    notes = []
    for i, pitch in enumerate(pitches):
        onset = start + i * spacing + wobble[i % len(wobble)]
        notes.append(Note(pitch, onset, onset + spacing * held, velocity))
    return notes


def midi_file(tracks: list[list[mido.Message | mido.MetaMessage]], path: Path, type: int = 1, ticks_per_beat: int = 480) -> Path:
    midi = mido.MidiFile(type=type, ticks_per_beat=ticks_per_beat)
    for messages in tracks:
        midi.tracks.append(mido.MidiTrack(messages))
    midi.save(path)
    return path


@pytest.fixture(scope="session")
def small_corpus_path(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus") / "corpus.npz"
    data.prepare(out, [data.corpus_root() / name for name in SMALL_CORPUS], workers=2, progress=False)
    return out


@pytest.fixture(scope="session")
def small_corpus(small_corpus_path) -> data.Corpus:
    return data.load_corpus(small_corpus_path)


@pytest.fixture(scope="session")
def tiny_checkpoint(small_corpus, tmp_path_factory):
    model_config, config = train.PRESETS["tiny"]
    out = tmp_path_factory.mktemp("model") / "tiny.pt"
    return train.train(model_config, replace(config, out=str(out)), corpus=small_corpus, progress=False)


@pytest.fixture(scope="session")
def tiny_checkpoint_path(tiny_checkpoint, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny-saved.pt"
    save_checkpoint(tiny_checkpoint, path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_checkpoint):
    """The tiny checkpoint as generation and the server use it."""
    return as_model(tiny_checkpoint)


@pytest.fixture(scope="session")
def shipped_checkpoint():
    return load_checkpoint(SHIPPED_CHECKPOINT)
