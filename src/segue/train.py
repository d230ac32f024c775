"""Training: fresh augmented pairs every epoch, validation loss every epoch, the best checkpoint kept."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from tqdm import tqdm

from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .data import Corpus, Pair, PairConfig, load_corpus, make_pairs
from .model import IGNORE, MelodyRNN, ModelConfig
from .tokenizer import Tokenizer, TokenizerConfig

VALID_SEED = 20_000  # validation pairs are cut once, the same in every run


@dataclass(frozen=True)
class TrainConfig:
    data: str = "data/corpus.npz"  # prepared by `segue prepare`
    out: str = "models/segue-gru.pt"  # the best checkpoint (lowest validation loss) goes here
    epochs: int = 10  # passes over the training songs, each with freshly cut and augmented pairs
    batch_size: int = 64  # pairs per optimizer step
    learning_rate: float = 2e-3  # peak, after a linear warm-up, then cosine decay to 5 % of it
    warmup_steps: int = 200
    weight_decay: float = 0.01
    grad_clip: float = 1.0  # GRUs can spike; clip the gradient norm
    seed: int = 1234  # the whole run is reproducible from this
    max_songs: int | None = None  # use only this many songs of each split (quick runs and tests)
    threads: int = 0  # torch intra-op threads; 0 leaves torch's default (all cores)


# Named configurations: the shipped model is trained with "default"; "tiny" makes training testable in seconds.
PRESETS: dict[str, tuple[ModelConfig, TrainConfig]] = {
    "default": (ModelConfig(), TrainConfig()),
    # The architecture comparison: an LSTM with as many parameters as the default GRU, trained alike.
    "lstm": (ModelConfig(cell="lstm", hidden_size=224), TrainConfig(out="models/segue-lstm.pt")),
    "tiny": (
        ModelConfig(embed_dim=8, hidden_size=24, num_layers=1, dropout=0.0),
        TrainConfig(epochs=3, batch_size=8, max_songs=24, warmup_steps=2, learning_rate=1e-2),
    ),
}


class Batch(NamedTuple):
    source: torch.Tensor  # (batch, input notes, 3)
    lengths: torch.Tensor  # (batch,)
    decoder_input: torch.Tensor  # (batch, extension notes, 3): the input's last note, then the extension but its last
    targets: torch.Tensor  # (batch, extension notes, 3), IGNORE where padded


def pair_tokens(pair: Pair, tokenizer: Tokenizer) -> tuple[np.ndarray, np.ndarray]:
    """(input tokens, extension tokens); the extension's first gap counts from the input's last onset."""
    source = tokenizer.encode_context(pair.input)
    last_onset = pair.input[-1].start - pair.input_length  # in the extension's time, where 0 is the input's end
    return source, tokenizer.encode(pair.extension, origin=last_onset)


def collate(tokens: list[tuple[np.ndarray, np.ndarray]]) -> Batch:
    size = len(tokens)
    source_len = max(len(s) for s, _ in tokens)
    target_len = max(len(t) for _, t in tokens)
    source = np.zeros((size, source_len, 3), np.int64)
    decoder_input = np.zeros((size, target_len, 3), np.int64)
    targets = np.full((size, target_len, 3), IGNORE, np.int64)
    for row, (s, t) in enumerate(tokens):
        source[row, : len(s)] = s
        decoder_input[row, 0] = s[-1]
        decoder_input[row, 1 : len(t)] = t[:-1]
        targets[row, : len(t)] = t
    lengths = torch.tensor([len(s) for s, _ in tokens])
    return Batch(torch.from_numpy(source), lengths, torch.from_numpy(decoder_input), torch.from_numpy(targets))


def batches(tokens: list, batch_size: int, rng: np.random.Generator | None = None):
    order = rng.permutation(len(tokens)) if rng is not None else np.arange(len(tokens))
    for start in range(0, len(order), batch_size):
        yield collate([tokens[i] for i in order[start : start + batch_size]])


@torch.no_grad()
def evaluate_loss(model: MelodyRNN, tokens: list, batch_size: int = 256) -> float:
    """Mean negative log-likelihood in nats per note (gap + pitch + duration)."""
    model.eval()
    total, notes = 0.0, 0
    for batch in batches(tokens, batch_size):
        _, loss, _ = model(*batch)
        count = int((batch.targets[..., 0] != IGNORE).sum())
        total += loss.item() * count
        notes += count
    return total / max(notes, 1)


def train(
    model_config: ModelConfig,
    config: TrainConfig,
    tokenizer_config: TokenizerConfig = TokenizerConfig(),
    pair_config: PairConfig = PairConfig(),
    corpus: Corpus | None = None,
    progress: bool = True,
) -> Checkpoint:
    """Train from scratch, saving the best checkpoint to `config.out`; returns it."""
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    corpus = corpus or load_corpus(Path(config.data))
    tokenizer = Tokenizer(tokenizer_config)
    model_config = replace(model_config, n_time_bins=tokenizer.n_time_bins)
    model = MelodyRNN(model_config)

    def tokenized(split: str, seed: int) -> list:
        return [pair_tokens(p, tokenizer) for p in make_pairs(corpus, split, pair_config, seed, config.max_songs)]

    valid = tokenized("valid", VALID_SEED)
    train_pairs = tokenized("train", config.seed)
    if not train_pairs or not valid:
        raise ValueError("the data holds too few songs to cut training and validation pairs")
    steps_per_epoch = math.ceil(len(train_pairs) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, config.warmup_steps, total_steps))

    data_info = {
        "fingerprint": corpus.fingerprint,
        "songs": {split: corpus.count(split) for split in ("train", "valid", "test")},
        "max_songs": config.max_songs,
        "valid_pairs": len(valid),
        "pair_config": asdict(pair_config),
    }
    history: list[dict] = []
    best = math.inf
    checkpoint = Checkpoint(model, tokenizer, f"segue-{model_config.cell}", data_info, train_config=asdict(config))
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        if epoch > 1:  # new cuts, tempos, keys and timing noise every epoch
            train_pairs = tokenized("train", config.seed + epoch)
        model.train()
        running, seen = 0.0, 0
        bar = tqdm(batches(train_pairs, config.batch_size, rng), total=math.ceil(len(train_pairs) / config.batch_size),
                   desc=f"epoch {epoch}/{config.epochs}", unit="batch", disable=not progress)
        for batch in bar:
            _, loss, _ = model(*batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            running += loss.item()
            seen += 1
            bar.set_postfix(loss=f"{running / seen:.3f}")
        valid_loss = evaluate_loss(model, valid)
        record = {
            "epoch": epoch,
            "train_pairs": len(train_pairs),
            "train_loss": running / max(seen, 1),
            "valid_loss": valid_loss,
            "valid_bits_per_note": valid_loss / math.log(2),
            "elapsed_seconds": time.perf_counter() - started,
        }
        history.append(record)
        if progress:
            tqdm.write(f"epoch {epoch}: train {record['train_loss']:.4f}  valid {valid_loss:.4f} nats/note "
                       f"({record['valid_bits_per_note']:.3f} bits)")
        if valid_loss < best:
            best = valid_loss
            checkpoint.metrics = {"history": history, "best_epoch": epoch, "best_valid_loss": best,
                                  "best_valid_bits_per_note": best / math.log(2)}
            save_checkpoint(checkpoint, config.out)
    best_checkpoint = load_checkpoint(config.out)  # the full history goes with the best weights
    best_checkpoint.metrics = {**checkpoint.metrics, "history": history, "train_seconds": time.perf_counter() - started}
    save_checkpoint(best_checkpoint, config.out)
    return best_checkpoint


def _lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))
