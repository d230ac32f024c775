"""Configs: the network's shape (saved in every checkpoint and model file and rebuilt from it) and
training's settings with their named presets. Kept apart from `model.py` and `train.py` so that
generation (numpy) and the command line's help read them without importing PyTorch."""

from __future__ import annotations

from dataclasses import dataclass

from .paths import DATA_DIR, MODELS_DIR
from .tokenizer import N_PITCHES

CELLS = ("gru", "lstm", "transformer")


@dataclass(frozen=True)
class ModelConfig:
    cell: str = "gru"  # "gru"; or "lstm" or "transformer" for the architecture comparison
    n_time_bins: int = 48  # must equal the tokenizer's
    n_pitches: int = N_PITCHES  # MIDI pitches 0..127
    embed_dim: int = 64  # size of each of the gap, pitch and duration embeddings
    hidden_size: int = 256  # state size (a Transformer's model width), encoder and decoder alike
    # Stacked layers, encoder and decoder alike. On validation one layer of 256 learnt more than two
    # of 224 in the same nine epochs (6.487 against 6.545 bits a note), each epoch 1.7 times quicker, so
    # the training budget buys fifteen (6.180); and it generates quicker (docs/model-card.md, Speed).
    num_layers: int = 1
    dropout: float = 0.1  # between layers and before the output heads, in training only
    # Pitch pointers over the input's notes (model.py); False: the pitch head alone. The pitch mixture's
    # short-term chain (markov.py) reads the input's motifs too: with it, pointers were worth 0.02
    # pitch bits a note on validation, for a tenth of a continuation's time (docs/model-card.md).
    copy: bool = False
    heads: int = 4  # attention heads of a Transformer's layers (recurrent cells ignore it)

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {self.cell!r}")
        for name in ("n_time_bins", "n_pitches", "embed_dim", "hidden_size", "num_layers", "heads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.cell == "transformer" and self.hidden_size % self.heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be a multiple of heads ({self.heads})")


@dataclass(frozen=True)
class TrainConfig:
    data: str = str(DATA_DIR / "corpus.npz")  # prepared by `segue prepare` (a file) or `segue prepare --from` (a folder)
    out: str = str(MODELS_DIR / "segue-gru.pt")  # the best checkpoint (lowest validation loss) goes here
    epochs: int = 15  # passes over the training songs, each with freshly cut and augmented pairs (about 16 min on 2 cores)
    batch_size: int = 64  # pairs per optimizer step on average, over all processes together
    # Batches' worth of pairs sorted by length together and cut into batches of like length, each
    # with about as many notes (more pairs of short continuations, fewer of long ones), so little
    # is padded: an epoch 2.7 times quicker than with pairs as drawn; 1: batches as drawn.
    length_pool: int = 32
    learning_rate: float = 2e-3  # peak, after a linear warm-up, then cosine decay to 5 % of it
    warmup_steps: int = 200
    weight_decay: float = 0.01
    grad_clip: float = 1.0  # GRUs can spike; clip the gradient norm
    seed: int = 1234  # the whole run is reproducible from this
    max_songs: int | None = None  # use only this many songs of each split (quick runs and tests)
    threads: int = 0  # PyTorch's threads; 0: half the cores, at least 1 (all of them ran 10x slower on a busy machine)
    device: str = "auto"  # "auto": a CUDA GPU when there is one, else the CPU; or "cpu", "cuda", "cuda:1"
    save_every: int = 500  # optimizer steps between training-state saves (and at every epoch's end)
    pitch_mixture: bool = True  # then fit the pitch mixture (markov.py) on the training and validation songs


# Named configurations: the shipped model is trained with "default"; "tiny" makes training testable in seconds.
PRESETS: dict[str, tuple[ModelConfig, TrainConfig]] = {
    "default": (ModelConfig(), TrainConfig()),
    # The architecture comparison, trained as the shipped GRU is (one layer, no pointers, fifteen
    # epochs): an LSTM with as many parameters (LSTM cells hold a third more than GRU cells of a size).
    "lstm": (ModelConfig(cell="lstm", hidden_size=224, num_layers=1, copy=False),
             TrainConfig(out=str(MODELS_DIR / "segue-lstm.pt"), epochs=15)),
    # Attention only, with pointers and about as many parameters as the LSTM; Transformers want a
    # gentler peak learning rate.
    "transformer": (ModelConfig(cell="transformer", hidden_size=128, num_layers=3, heads=4, copy=True),
                    TrainConfig(out=str(MODELS_DIR / "segue-transformer.pt"), learning_rate=1e-3, epochs=9)),
    "tiny": (
        ModelConfig(embed_dim=8, hidden_size=24, num_layers=1, dropout=0.0),
        TrainConfig(epochs=3, batch_size=8, max_songs=24, warmup_steps=2, learning_rate=1e-2),
    ),
}

# Fine-tuning (`segue train --init`) starts from trained weights: a from-scratch peak learning rate
# and warm-up undid what the model knew (validation got worse mid-run); these settings replace the
# preset's unless the command line names them.
FINE_TUNING = {"learning_rate": 3e-4, "warmup_steps": 20}
