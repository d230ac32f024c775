"""Training pairs as tensors: a pair's tokens, and padded batches of them, as the network's
teacher-forced pass takes them (training, validation, evaluation and fitting alike)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import torch

from .data import Pair
from .model import IGNORE
from .tokenizer import Tokenizer


class Batch(NamedTuple):
    source: torch.Tensor  # (batch, input notes, 3)
    lengths: torch.Tensor  # (batch,)
    decoder_input: torch.Tensor  # (batch, extension notes, 3): the input's last note, then the extension but its last
    targets: torch.Tensor  # (batch, extension notes, 3), IGNORE where padded

    def to(self, device: torch.device) -> Batch:
        return Batch(*(tensor.to(device) for tensor in self))


def pair_tokens(pair: Pair, tokenizer: Tokenizer) -> tuple[np.ndarray, np.ndarray]:
    """(input tokens, extension tokens), both at the input's tempo scale; the extension's first gap
    counts from the input's last onset."""
    source, scale = tokenizer.encode_context(pair.input)
    last_onset = pair.input[-1].start - pair.input_length  # in the extension's time, where 0 is the input's end
    return source, tokenizer.encode(pair.extension, origin=last_onset, scale=scale)


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


def batches(tokens: list, batch_size: int) -> Iterator[Batch]:
    for start in range(0, len(tokens), batch_size):
        yield collate(tokens[start : start + batch_size])
