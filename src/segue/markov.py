"""Variable-order Markov models of melody, and the pitch mixture that joins them to the network.

`MarkovChain` is the classic melody-prediction model (as in PPM and IDyOM): P(symbol | the last
`order` context items), interpolating every order down to uniform with Witten-Bell weights,
p_k = (count_k(x) + types_k * p_(k-1)) / (total_k + types_k).

`PitchMixture` is IDyOM's combination of viewpoint models applied to Segue's network. The next
pitch's distribution is a weighted average of three predictions: the network's; a long-term chain
over melodic intervals, learned from the training songs, whose context is the last four intervals
and the scale degree of the last note in the melody's key (so a step that leaves the key is
unlikely where the songs never take it); and a short-term chain over the pitches of the input
itself, which knows this melody's own notes, motifs and register. Each is weighted by a fitted
prior times its entropy to the power -`bias`, so a model that is sure of itself this note counts
more (Pearce 2005, sec. 6.2). The chains make mistakes unlike the network's; averaged, the three
predict pitch better than any of them (docs/model-card.md has the figures). Timing stays the
network's alone.

The short-term chain reads the input only, not the continuation as it is written: learning from
its own output, it kept proposing the pitches it had just chosen, and 30 s continuations narrowed
to two thirds of their opening range (measured: docs/model-card.md).

Everything here is numpy: generation runs it without PyTorch.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .keys import Key, key_of_pitches

N_PITCHES = 128
INTERVALS = 2 * N_PITCHES - 1  # melodic steps -127..127, as indices 0..254
ORDER = 4  # intervals in the long-term chain's context (then the scale degree); notes in the short-term one's
KEPT_PREDICTIONS = 4096  # long-term contexts whose prediction is kept (each holds 2 KB)


class _Chain:
    """What both forms of a chain share: the interpolated estimate, from the counts of each context
    as (its symbols, their counts / (total + types), the escape weight types / (total + types))."""

    vocabulary: int
    order: int

    def _entry(self, k: int, context: tuple) -> tuple[np.ndarray, np.ndarray, float] | None:
        raise NotImplementedError

    def distribution(self, context: Sequence) -> np.ndarray:
        """The interpolated estimate: from uniform, one Witten-Bell step up per order of the context
        (an unseen order leaves it as it is)."""
        p = np.full(self.vocabulary, 1.0 / self.vocabulary)
        for k in range(min(self.order, len(context)) + 1):
            p = self.one_order_up(tuple(context[len(context) - k :]), p)
        return p

    def one_order_up(self, context: tuple, shorter: np.ndarray) -> np.ndarray:
        """P(. | context) from P(. | context without its oldest item), one Witten-Bell step."""
        entry = self._entry(len(context), context)
        if entry is None:  # unseen: the shorter context's estimate stands
            return shorter
        symbols, shares, escape = entry
        p = shorter * escape
        p[symbols] += shares
        return p


def _entry_of(symbols: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    values = counts.astype(np.float64)
    total, types = float(values.sum()), float(len(values))
    return symbols.astype(np.int64), values / (total + types), types / (total + types)


class MarkovChain(_Chain):
    """P(symbol | the last `order` context items), learning as it reads; see the module docstring."""

    def __init__(self, vocabulary: int, order: int) -> None:
        self.vocabulary = vocabulary
        self.order = order
        self._counts: list[dict[tuple, Counter]] = [defaultdict(Counter) for _ in range(order + 1)]
        # Per context, its counts as arrays, built when first asked for and dropped when a count
        # changes: a chain may be asked between observations.
        self._entries: list[dict[tuple, tuple[np.ndarray, np.ndarray, float]]] = [{} for _ in range(order + 1)]

    def observe(self, context: Sequence, symbol: int) -> None:
        for k in range(min(self.order, len(context)) + 1):
            key = tuple(context[len(context) - k :])
            self._counts[k][key][symbol] += 1
            self._entries[k].pop(key, None)

    def _entry(self, k: int, context: tuple):
        entry = self._entries[k].get(context)
        if entry is None:
            counts = self._counts[k].get(context)
            if counts is None:
                return None
            entry = self._entries[k][context] = _entry_of(np.fromiter(counts.keys(), np.int64, len(counts)),
                                                          np.fromiter(counts.values(), np.int64, len(counts)))
        return entry

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The counts as flat integer arrays (for a checkpoint): per order k, each context's k
        items, then its symbols and counts, delimited by offsets."""
        arrays = {}
        for k, level in enumerate(self._counts):
            contexts = list(level)
            arrays[f"contexts{k}"] = np.array(contexts, np.int64).reshape(len(contexts), k)
            arrays[f"offsets{k}"] = np.cumsum([0] + [len(level[c]) for c in contexts]).astype(np.int64)
            arrays[f"symbols{k}"] = np.array([s for c in contexts for s in level[c]], np.int64)
            arrays[f"counts{k}"] = np.array([n for c in contexts for n in level[c].values()], np.int64)
        return arrays

    def frozen(self) -> FrozenChain:
        """The same estimates, read-only, in a fraction of the memory."""
        return FrozenChain(self.vocabulary, self.to_arrays())


class FrozenChain(_Chain):
    """A chain that has finished learning, kept as its count arrays (`MarkovChain.to_arrays`):
    each context is found by binary search over its items packed into one integer. Loading the
    shipped long-term chain this way takes milliseconds, where rebuilding its 105,000 contexts as
    Python dictionaries took a second and 40 MiB (docs/performance.md)."""

    def __init__(self, vocabulary: int, arrays: dict[str, np.ndarray]) -> None:
        self.vocabulary = vocabulary
        self.order = sum(1 for name in arrays if name.startswith("contexts")) - 1
        if self.order < 0:
            raise ValueError("a Markov chain needs at least its order-0 counts")
        self._arrays = arrays
        contexts = [np.asarray(arrays[f"contexts{k}"], np.int64) for k in range(self.order + 1)]
        contexts = [level.reshape(len(level), k) for k, level in enumerate(contexts)]
        if any(level.size and level.min() < 0 for level in contexts):
            raise ValueError("a Markov chain's contexts must be non-negative")
        self._base = 1 + max((int(level.max()) for level in contexts if level.size), default=0)
        if self._base ** self.order >= 2**63:
            raise ValueError(f"contexts of {self.order} items below {self._base} do not pack into 64 bits")
        self._levels = []
        for k, level in enumerate(contexts):
            keys = level @ self._base ** np.arange(k - 1, -1, -1, dtype=np.int64)
            order = np.argsort(keys)
            offsets, symbols, counts = (np.asarray(arrays[f"{name}{k}"], np.int64) for name in ("offsets", "symbols", "counts"))
            # Each context's Witten-Bell terms, worked out once for all (`_entry_of`'s arithmetic):
            # a prediction then costs one search and one step per order.
            types = np.diff(offsets)
            running = np.concatenate([[0], np.cumsum(counts)])
            denominators = (running[offsets[1:]] - running[offsets[:-1]] + types).astype(np.float64)
            self._levels.append((keys[order], order, offsets, symbols, counts / np.repeat(denominators, types),
                                 types / denominators))

    def to_arrays(self) -> dict[str, np.ndarray]:
        return dict(self._arrays)

    def _entry(self, k: int, context: tuple):
        key = 0
        for item in context:
            if not 0 <= item < self._base:
                return None
            key = key * self._base + item
        keys, order, offsets, symbols, shares, escapes = self._levels[k]
        found = int(np.searchsorted(keys, key))
        if found == len(keys) or keys[found] != key:
            return None
        index = order[found]
        start, end = offsets[index], offsets[index + 1]
        return symbols[start:end], shares[start:end], float(escapes[index])


class Predictions:
    """A chain that no longer learns, asked again and again: each context's distribution and its
    entropy, made once (from the shorter context's, one Witten-Bell step) and kept. A context the
    chain never saw shares its shorter context's entry; the entropy is worked out only for the
    contexts asked for. At most `limit` are kept: past it, the one asked for least recently goes
    (melodies come back to a few contexts, such as a scale degree after a step, again and again)."""

    def __init__(self, chain: _Chain, limit: int) -> None:
        self.chain, self.limit = chain, limit
        self._known: dict[tuple, list] = {}  # context -> [distribution, its entropy or None]

    def __call__(self, context: tuple) -> tuple[np.ndarray, float]:
        known = self._entry(context)
        if known[1] is None:
            known[1] = float(entropy(known[0]))
        return known[0], known[1]

    def _entry(self, context: tuple) -> list:
        known = self._known.pop(context, None)
        if known is None:
            if context:
                shorter = self._entry(context[1:])
                p = self.chain.one_order_up(context, shorter[0])
                known = shorter if p is shorter[0] else [p, None]
            else:
                known = [self.chain.one_order_up((), np.full(self.chain.vocabulary, 1.0 / self.chain.vocabulary)), None]
        self._known[context] = known  # last: the least recently asked is dropped first
        if len(self._known) > self.limit:
            del self._known[next(iter(self._known))]
        return known


class InputChain:
    """The short-term chain: a chain over the pitches of one input, which it reads and then never
    learns from again (see the module docstring), so every context it knows is worked out at once,
    with its entropy, as rows of one table: a continuation asks for a new context at almost every
    note, where working each out on demand (one Witten-Bell step per order) cost more than the
    network's own step. The probabilities are `MarkovChain(N_PITCHES, ORDER)`'s after observing
    every pitch after the ones before it, by the same arithmetic; the entropies, summed in
    another order, agree to about 1e-15."""

    def __init__(self, pitches: Sequence[int], order: int = ORDER) -> None:
        pitches = [int(p) for p in pitches]
        if not pitches:
            raise ValueError("a short-term chain needs at least one pitch to read")
        self.order = order
        # Rows level by level (the contexts of k pitches after those of k - 1), so that each
        # level is worked out from the one before in one step.
        self._rows: dict[tuple[int, ...], int] = {(): 0}
        parents = [0]
        row_of = [0] * len(pitches)  # the row of each (context, pitch) observed; every pitch follows ()
        ends = [1]
        for k in range(1, min(order, len(pitches) - 1) + 1):
            for t in range(k, len(pitches)):
                context = tuple(pitches[t - k : t])
                row = self._rows.get(context)
                if row is None:
                    row = self._rows[context] = len(parents)
                    parents.append(self._rows[context[1:]])
                row_of.append(row)
            ends.append(len(parents))
        # Only the input's own pitches tell the rows apart: every other pitch has the same
        # estimate in a row, so the table is worked out over those pitches and one more column,
        # which stands for all the others (it is never observed: only escapes reach it).
        pitch_set = sorted(set(pitches))
        column = {pitch: index for index, pitch in enumerate(pitch_set)}
        observed = [column[p] for k in range(len(ends)) for p in pitches[k:]]
        rows, width = len(parents), len(pitch_set) + 1
        counts = np.bincount(np.asarray(row_of) * width + observed, minlength=rows * width).reshape(rows, width)
        types = (counts > 0).sum(axis=1)
        denominators = (counts.sum(axis=1) + types).astype(np.float64)
        shares, escapes = counts / denominators[:, None], (types / denominators)[:, None]
        columns = np.empty((rows, width))
        columns[0] = 1.0 / N_PITCHES * escapes[0] + shares[0]
        parents_array = np.asarray(parents)
        for start, end in zip(ends, ends[1:]):
            columns[start:end] = columns[parents_array[start:end]] * escapes[start:end] + shares[start:end]
        column_of_pitch = np.full(N_PITCHES, width - 1)
        column_of_pitch[pitch_set] = np.arange(width - 1)
        self.table = columns[:, column_of_pitch]
        # Entropy in bits, the last column counted once for each pitch it stands for.
        multiplicity = np.ones(width)
        multiplicity[-1] = N_PITCHES - width + 1
        self.entropies = -((columns * np.log2(columns)) @ multiplicity)

    def row(self, context: tuple[int, ...]) -> int:
        """The table's row for a context: its longest end the input holds (a context seen implies
        every shorter end of it seen: backing off drops the oldest pitch first)."""
        for k in range(min(self.order, len(context)), 0, -1):
            row = self._rows.get(context[len(context) - k :])
            if row is not None:
                return row
        return 0

    def __call__(self, context: tuple[int, ...]) -> tuple[np.ndarray, float]:
        """P(next pitch | context) and its entropy in bits."""
        row = self.row(context)
        return self.table[row], float(self.entropies[row])


def step_index(previous: int, pitch: int) -> int:
    return int(pitch) - int(previous) + N_PITCHES - 1


def interval_context(pitches: Sequence[int], order: int = ORDER) -> list[int]:
    """The last `order` melodic steps of `pitches` (as step indices)."""
    recent = [int(p) for p in pitches[-order - 1 :]]
    return [step_index(a, b) for a, b in zip(recent, recent[1:])]


def scale_degree(pitch: int, key: Key) -> int:
    """The pitch's class above the key's tonic, 0..11 in a major key and 12..23 in a minor one."""
    return (int(pitch) - key.tonic) % 12 + (12 if key.mode == "minor" else 0)


def long_term_context(pitches: Sequence[int], key: Key) -> tuple[int, ...]:
    """The long-term chain's context after `pitches`: the last intervals, then the scale degree of
    the last pitch, which a shorter context keeps longest (backing off drops the oldest first)."""
    return (*interval_context(pitches, ORDER), INTERVALS + scale_degree(pitches[-1], key))


def fit_intervals(melodies: Iterable[Sequence[int]]) -> MarkovChain:
    """The long-term chain: the intervals of every melody (pitch sequences), each in its context,
    in the key its pitches suggest (`keys.key_of_pitches`)."""
    chain = MarkovChain(INTERVALS, ORDER + 1)
    for melody in melodies:
        pitches = [int(p) for p in melody]
        key = key_of_pitches(pitches)
        for t in range(1, len(pitches)):
            chain.observe(long_term_context(pitches[:t], key), step_index(pitches[t - 1], pitches[t]))
    return chain


def entropy(p: np.ndarray) -> np.ndarray:
    """Entropy in bits along the last axis."""
    return -(p * np.log2(np.maximum(p, 1e-300))).sum(axis=-1)


class ChainParts(NamedTuple):
    """Both chains' predictions of the next pitch, for a batch of rows."""

    probabilities: np.ndarray  # (rows, 2, 128): P(each pitch), long- then short-term; the long-term
    # chain's steps out of the MIDI range have the rest of its mass, so its row sums to at most 1
    entropies: np.ndarray  # (rows, 2): of each chain's distribution (over steps; over pitches), in bits


@dataclass(frozen=True)
class PitchMixture:
    """The network's pitch prediction averaged with a long-term and a short-term interval chain.

    Each model's weight is prior * entropy ** -bias, its entropy taken over what it predicts: the
    network's over pitches, a chain's over steps. The average is renormalized over the MIDI
    pitches (a chain may propose a step out of range from a very high or low note)."""

    long_term: FrozenChain
    prior: tuple[float, float, float]  # network, long-term, short-term
    bias: float  # how much more a surer model counts
    _long_term: Predictions = field(init=False, repr=False, compare=False)
    _prior: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.prior) != 3 or min(self.prior) < 0 or sum(self.prior) <= 0:
            raise ValueError(f"prior must be three weights >= 0, not all zero, got {self.prior!r}")
        if not 0 <= self.bias <= 16:
            raise ValueError(f"bias must be between 0 and 16, got {self.bias!r}")
        object.__setattr__(self, "_prior", np.array(self.prior, np.float64))
        object.__setattr__(self, "_long_term", Predictions(self.long_term, KEPT_PREDICTIONS))

    def long_term_steps(self, context: tuple) -> tuple[np.ndarray, float]:
        """The long-term chain's P(next step | context) and its entropy, kept: a fitted chain never
        changes, and melodies revisit the same few contexts."""
        return self._long_term(context)

    def weights(self, entropies: np.ndarray) -> np.ndarray:
        """Each model's weight (last axis: network, long-term, short-term) given their entropies."""
        weights = self._prior * np.maximum(entropies, 1e-3) ** -self.bias
        return weights / weights.sum(axis=-1, keepdims=True)

    def strength(self, model: int, bits: float) -> float:
        """One model's weight before the weights are normalized (`weights`, for one number; the
        mixture is normalized at the end, which normalizes the weights with it)."""
        return self.prior[model] * max(bits, 1e-3) ** -self.bias

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"prior": np.array(self.prior, np.float64), "bias": np.array(self.bias, np.float64),
                **{f"long_term.{name}": array for name, array in self.long_term.to_arrays().items()}}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> PitchMixture:
        chain = {name.removeprefix("long_term."): a for name, a in arrays.items() if name.startswith("long_term.")}
        return cls(FrozenChain(INTERVALS, chain), tuple(float(w) for w in np.asarray(arrays["prior"])),
                   float(np.asarray(arrays["bias"])))


class ShortTermRows:
    """The mixture during generation: each generated row's pitches so far, its input's short-term
    chain and its input's key."""

    def __init__(self, mixture: PitchMixture, inputs: list[Sequence[int]]) -> None:
        self.mixture = mixture
        self.histories = [[int(p) for p in pitches] for pitches in inputs]
        # Variations of one input share its chain and key: the chain never learns after the input.
        known: dict[tuple[int, ...], int] = {}
        self.chains: list[InputChain] = []
        self.keys: list[Key] = []
        self.chain_of_row = []
        for history in self.histories:
            if tuple(history) not in known:
                known[tuple(history)] = len(self.chains)
                self.chains.append(InputChain(history))
                self.keys.append(key_of_pitches(history))
            self.chain_of_row.append(known[tuple(history)])
        # Each row's contexts, moved on note by note as it is written.
        self.long_term_contexts = [long_term_context(h, self.keys[c]) for h, c in zip(self.histories, self.chain_of_row)]
        self.short_term_contexts = [tuple(h[-ORDER:]) for h in self.histories]

    def parts(self) -> ChainParts:
        """Both chains' predictions of each row's next pitch."""
        probabilities = np.empty((len(self.histories), 2, N_PITCHES))
        entropies = np.empty((len(self.histories), 2))
        for row in range(len(self.histories)):
            (long_term, entropies[row, 0]), (probabilities[row, 1], entropies[row, 1]) = self._predictions(row)
            probabilities[row, 0] = long_term
        return ChainParts(probabilities, entropies)

    def mix(self, network: np.ndarray) -> np.ndarray:
        """Mix the network's pitch probabilities (rows, pitches) with both chains' for each row.
        Generation calls this at every note, so it is written for numpy's cost per call, which is
        most of the cost: the weights are plain numbers, and only the sum is normalized."""
        if len(network) != len(self.histories):
            raise ValueError(f"{len(network)} rows of network probabilities for {len(self.histories)} rows of chains")
        mixture = self.mixture
        mixed = network * np.array([mixture.strength(0, bits) for bits in entropy(network).tolist()])[:, None]
        for row, ((long_term, long_bits), (short_term, short_bits)) in enumerate(map(self._predictions, range(len(mixed)))):
            mixed[row] += long_term * mixture.strength(1, long_bits) + short_term * mixture.strength(2, short_bits)
        return mixed / mixed.sum(axis=1, keepdims=True)

    def _predictions(self, row: int) -> tuple[tuple[np.ndarray, float], tuple[np.ndarray, float]]:
        """The row's long-term prediction over pitches (its entropy over steps) and short-term one."""
        low = N_PITCHES - 1 - self.histories[row][-1]  # the step to pitch 0; the steps to every pitch follow
        steps, long_bits = self.mixture.long_term_steps(self.long_term_contexts[row])
        return (steps[low : low + N_PITCHES], long_bits), self.chains[self.chain_of_row[row]](self.short_term_contexts[row])

    def add(self, pitches: np.ndarray) -> None:
        """Each row's newly written pitch (the short-term chains do not learn it: see the module docstring)."""
        for row, (history, pitch) in enumerate(zip(self.histories, pitches.tolist())):
            steps = self.long_term_contexts[row][:-1]
            key = self.keys[self.chain_of_row[row]]
            self.long_term_contexts[row] = (*steps[max(0, len(steps) - ORDER + 1) :], step_index(history[-1], pitch),
                                            INTERVALS + scale_degree(pitch, key))
            history.append(pitch)
            self.short_term_contexts[row] = tuple(history[-ORDER:])
