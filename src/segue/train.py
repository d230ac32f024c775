"""Training: fresh augmented pairs every epoch, streamed shard by shard; validation loss every
epoch; the best checkpoint kept; resumable; one process or many under `torchrun`.

One code path serves both: `torchrun --nproc_per_node N -m segue.cli train ...` starts N
processes that train one model with DistributedDataParallel (gloo on CPU, NCCL on GPU). Each
process reads every shard but cuts pairs only from its own share of the songs (a
DistributedSampler over each shard's songs), with `batch_size / N` pairs per step on average,
so a step sees as many notes as in one process. A batch holds pairs of like length, about as
many notes in each (`_like_length_batches`). Only rank 0 validates, logs and writes files.

Every `save_every` steps, at the end of each epoch and on Ctrl-C, rank 0 writes a training state
beside the checkpoint (`<out stem>.train-state`: weights, optimizer, schedule, position, random state);
`segue train --resume` continues from it, batch for batch as if never stopped.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler
from tqdm import tqdm

from .batching import Batch, batches, collate, pair_tokens
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint, weights_digest
from .data import SPLITS, Corpus, DataError, Pair, PairConfig, ShardedCorpus, song_pairs, load_corpus
from .errors import first_line
from .files import replaced_atomically
from .mixing import fit_mixture
from .config import PRESETS, TrainConfig
from .threads import training_threads, use_threads
from .model import IGNORE, ModelConfig, NoteModel, build_model
from .tokenizer import Tokenizer, TokenizerConfig

VALID_SEED = 20_000  # validation pairs are cut once, the same in every run
STATE_FORMAT = "segue-train-state/1"


@torch.no_grad()
def evaluate_loss(model: NoteModel, tokens: list, batch_size: int = 256, device: torch.device | None = None) -> float:
    """Mean negative log-likelihood in nats per note (gap + pitch + duration)."""
    model.eval()
    total, notes = 0.0, 0
    # The mean does not depend on the order: pairs of like length together pad least.
    for batch in batches([tokens[i] for i in by_length(tokens)], batch_size):
        if device is not None:
            batch = batch.to(device)
        _, loss, _ = model(*batch)
        count = int((batch.targets[..., 0] != IGNORE).sum())
        total += loss.item() * count
        notes += count
    return total / max(notes, 1)


@dataclass(frozen=True)
class Run:
    """This process's place in a run: rank and world size (1 without torchrun) and its device."""

    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    def all_agree(self, flag: bool) -> bool:
        """True when `flag` is true in every process: keeps them stepping together to the end."""
        if self.world == 1:
            return flag
        value = torch.tensor([int(flag)], device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(value, op=dist.ReduceOp.MIN)
        return bool(value.item())

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but this machine has no CUDA GPU that PyTorch can use")
    return device


def start_run(device_name: str) -> Run:
    """Join the process group when started by torchrun (WORLD_SIZE > 1), else run alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_name, local_rank)
    if world == 1:
        return Run(0, 1, device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return Run(dist.get_rank(), dist.get_world_size(), device)


def epoch_pairs(corpus: Corpus | ShardedCorpus, split: str, pair_config: PairConfig, seed: int, epoch: int,
                run: Run, max_songs: int | None = None) -> Iterator[list[Pair]]:
    """This process's pairs of one epoch, a shard at a time, shuffled within the shard. The shard
    order and each process's songs (a DistributedSampler per shard) depend on seed and epoch only."""
    shards = corpus.shards(split)
    order = [shards[i] for i in np.random.default_rng([seed, epoch]).permutation(len(shards))]
    taken = 0
    for shard_index in order:
        shard = corpus.shard(int(shard_index))
        songs = list(shard.songs(split))
        if max_songs is not None:
            songs = songs[: max(0, max_songs - taken)]
        taken += len(songs)
        if not songs:
            continue
        sampler = DistributedSampler(songs, num_replicas=run.world, rank=run.rank, shuffle=True,
                                     seed=seed + int(shard_index))
        sampler.set_epoch(epoch)
        rng = np.random.default_rng([seed, epoch, int(shard_index), run.rank])
        pairs = [pair for index in sampler for pair in song_pairs(songs[index], pair_config, rng)]
        yield [pairs[i] for i in rng.permutation(len(pairs))]
        if max_songs is not None and taken >= max_songs:
            return


def epoch_batches(corpus, pair_config: PairConfig, tokenizer: Tokenizer, config: TrainConfig, epoch: int,
                  run: Run) -> Iterator[Batch]:
    size = max(1, config.batch_size // run.world)
    pool = size * config.length_pool
    rng = np.random.default_rng([config.seed, epoch, run.rank, 1])
    pending: list = []
    for pairs in epoch_pairs(corpus, "train", pair_config, config.seed, epoch, run, config.max_songs):
        pending += [pair_tokens(pair, tokenizer) for pair in pairs]
        while len(pending) >= pool:
            yield from _like_length_batches(pending[:pool], size, rng)
            pending = pending[pool:]
    if pending:
        yield from _like_length_batches(pending, size, rng)


def by_length(tokens: list) -> np.ndarray:
    """The order of pairs' tokens by continuation length, then input length (stable)."""
    return np.lexsort(([len(s) for s, _ in tokens], [len(t) for _, t in tokens]))


def _like_length_batches(tokens: list, size: int, rng: np.random.Generator) -> Iterator[Batch]:
    """Batches of pairs of like length, in random order: a batch is padded to its longest
    continuation and input, and drawn as they come (continuations of 5-30 s) it padded to 3.4 times
    the notes it held. As many batches as `size` pairs each would make (fewer where one long pair
    outweighs a batch's share), but each holding about
    the same number of notes (more pairs of short continuations, fewer long ones): the loss is a
    mean over a batch's notes, so with equal pairs a note of a short continuation counted several
    times one of a long continuation (the validation loss fell more slowly)."""
    order = by_length(tokens)
    notes = np.cumsum([len(tokens[i][1]) for i in order])
    count = math.ceil(len(tokens) / size)
    bounds = np.unique(np.searchsorted(notes, notes[-1] * np.arange(count + 1) / count, side="right"))
    batches = [order[start:end] for start, end in zip(bounds, bounds[1:])]
    for index in rng.permutation(len(batches)):
        yield collate([tokens[i] for i in batches[index]])


def train(
    model_config: ModelConfig,
    config: TrainConfig,
    tokenizer_config: TokenizerConfig = TokenizerConfig(),
    pair_config: PairConfig = PairConfig(),
    corpus: Corpus | ShardedCorpus | None = None,
    progress: bool = True,
    init: Checkpoint | None = None,
    resume: bool = False,
) -> Checkpoint:
    """Train, saving the best checkpoint to `config.out`; returns it (in every process).

    `init` starts from a trained checkpoint's weights and configs (fine-tuning) instead of random
    ones; `resume` continues the run whose state is at `state_path(config.out)`, which is removed
    when the run finishes."""
    use_threads(config.threads or training_threads())
    run = start_run(config.device)
    corpus = corpus or load_corpus(Path(config.data))
    if init is not None:
        model_config, tokenizer_config = init.model.config, init.tokenizer.config
    tokenizer = Tokenizer(tokenizer_config)
    model_config = replace(model_config, n_time_bins=tokenizer.n_time_bins)
    torch.manual_seed(config.seed)
    model = build_model(model_config)
    if init is not None:
        model.load_state_dict(init.model.state_dict())
    model.to(run.device)
    trained = DistributedDataParallel(model, device_ids=[run.device] if run.device.type == "cuda" else None) \
        if run.world > 1 else model

    valid = [pair_tokens(p, tokenizer) for pairs in epoch_pairs(corpus, "valid", pair_config, VALID_SEED, 0,
                                                                 Run(0, 1, run.device), config.max_songs)
             for p in pairs] if run.main else []
    if run.main and not valid:
        raise DataError("the data holds too few songs to cut validation pairs")
    train_songs = min(corpus.count("train"), config.max_songs or corpus.count("train"))
    if not train_songs:
        raise DataError("the data holds no training songs")
    # The schedule needs the run's length before the first epoch is cut: estimated from the song
    # count and the pairs cut from a sample of songs.
    steps_per_epoch = math.ceil(train_songs * _pairs_per_song(corpus, pair_config, config.seed) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, config.warmup_steps, total_steps))

    data_info = {
        "fingerprint": corpus.fingerprint,
        "songs": {split: corpus.count(split) for split in SPLITS},
        "max_songs": config.max_songs,
        "valid_pairs": len(valid),
        "pair_config": asdict(pair_config),
    }
    # Named after its file, so that a fine-tuned model is told apart from the one it started from.
    checkpoint = Checkpoint(model, tokenizer, Path(config.out).stem, data_info, train_config=asdict(config))
    if init is not None:
        checkpoint.data["init"] = {"name": init.name, "weights": weights_digest(init.model)[:12]}
    position = {"epoch": 1, "batch": 0, "step": 0, "best": math.inf, "history": [], "seconds": 0.0, "metrics": {}}
    if resume:
        position = _load_state(state_path(config.out), model, optimizer, scheduler, config, corpus.fingerprint)
        checkpoint.metrics = position["metrics"]
    elif run.main:  # where training starts from: the gain of fine-tuning shows against it
        position["initial_valid_loss"] = evaluate_loss(model, valid, device=run.device)
        if progress:
            tqdm.write(f"before training: valid {position['initial_valid_loss']:.4f} nats/note "
                       f"({position['initial_valid_loss'] / math.log(2):.3f} bits)")
    this_run = time.perf_counter()  # "trained in" counts this run; the total also what came before a resume
    started = this_run - position["seconds"]

    def save_state(epoch: int, batch: int) -> None:
        if run.main:
            position.update(epoch=epoch, batch=batch, seconds=time.perf_counter() - started, metrics=checkpoint.metrics)
            _save_state(state_path(config.out), model, optimizer, scheduler, config, corpus.fingerprint, position)

    for epoch in range(position["epoch"], config.epochs + 1):
        model.train()
        running, seen = 0.0, 0
        skip = position["batch"] if epoch == position["epoch"] else 0  # resumed mid-epoch: replay to there
        batches_of_epoch = epoch_batches(corpus, pair_config, tokenizer, config, epoch, run)
        bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch}/{config.epochs}", unit="batch",
                   disable=not (progress and run.main))
        index = 0
        try:
            while run.all_agree((batch := next(batches_of_epoch, None)) is not None):
                index += 1
                if index <= skip:
                    continue
                batch = batch.to(run.device)
                _, loss, _ = trained(*batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                scheduler.step()
                position["step"] += 1
                running += loss.item()
                seen += 1
                bar.update()
                bar.set_postfix(loss=f"{running / seen:.3f}")
                if position["step"] % config.save_every == 0:
                    save_state(epoch, index)
        except KeyboardInterrupt:
            save_state(epoch, index - 1)  # the step in progress did not finish
            if run.main:
                tqdm.write(f"stopped; `segue train --resume` continues from {state_path(config.out)}")
            raise
        finally:
            bar.close()
        if run.main:
            valid_loss = evaluate_loss(model, valid, device=run.device)
            record = {
                "epoch": epoch,
                "train_batches": seen,
                "train_loss": running / max(seen, 1),
                "valid_loss": valid_loss,
                "valid_bits_per_note": valid_loss / math.log(2),
                "elapsed_seconds": time.perf_counter() - started,
            }
            position["history"].append(record)
            if progress:
                tqdm.write(f"epoch {epoch}: train {record['train_loss']:.4f}  valid {valid_loss:.4f} nats/note "
                           f"({record['valid_bits_per_note']:.3f} bits)")
            if valid_loss < position["best"]:
                position["best"] = valid_loss
                checkpoint.metrics = {"history": position["history"], "best_epoch": epoch, "best_valid_loss": valid_loss,
                                      "best_valid_bits_per_note": valid_loss / math.log(2)}
                save_checkpoint(checkpoint, config.out)  # it copies the weights to the CPU
        save_state(epoch + 1, 0)
        run.barrier()

    digests = _gather_digests(model, run)  # every process must end with the same weights
    if len(set(digests)) != 1:
        raise RuntimeError(f"the {run.world} processes ended with different weights: {digests}")
    if run.main:
        best = load_checkpoint(config.out)  # the full history goes with the best weights
        finished = time.perf_counter()
        best.metrics = {**checkpoint.metrics, "history": position["history"], "train_seconds": finished - this_run,
                        "total_train_seconds": finished - started, "world_size": run.world,
                        "initial_valid_bits_per_note": position.get("initial_valid_loss", math.nan) / math.log(2),
                        "weights_by_rank": digests, "device": run.device.type}
        if config.pitch_mixture:
            best.mixture, best.metrics["pitch_mixture"] = fit_mixture(best, corpus, config.max_songs, progress)
        save_checkpoint(best, config.out)
        state_path(config.out).unlink(missing_ok=True)  # finished: nothing left to resume
    run.barrier()
    return load_checkpoint(config.out)


def _pairs_per_song(corpus: Corpus | ShardedCorpus, pair_config: PairConfig, seed: int, sample: int = 1000,
                    max_shards: int = 4) -> float:
    """Pairs one training song gives on average, from about `sample` songs of a few shards spread
    over the data: a big dataset is not read through before training starts."""
    shards = corpus.shards("train")
    picked = [shards[i] for i in np.linspace(0, len(shards) - 1, min(len(shards), max_shards)).round().astype(int)]
    songs = [song for index in dict.fromkeys(picked) for song in corpus.shard(index).songs("train")]
    rng = np.random.default_rng(seed)
    stride = max(1, len(songs) // sample)
    counts = [len(song_pairs(song, pair_config, rng)) for song in songs[::stride]]
    return sum(counts) / max(len(counts), 1)


def state_path(out: str | Path) -> Path:
    """Where a run writing `out` keeps its training state until it finishes."""
    out = Path(out)
    return out.with_name(f"{out.stem}.train-state")


def _gather_digests(model: NoteModel, run: Run) -> list[str]:
    digest = weights_digest(model)[:16]
    if run.world == 1:
        return [digest]
    gathered: list = [None] * run.world
    dist.all_gather_object(gathered, digest)
    return gathered


def _save_state(path: Path, model, optimizer, scheduler, config: TrainConfig, fingerprint: str, position: dict) -> None:
    state = {
        "format": STATE_FORMAT,
        "train_config": asdict(config),
        "data_fingerprint": fingerprint,
        "position": dict(position),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
    }
    with replaced_atomically(path) as temporary:
        torch.save(state, temporary)


def _load_state(path: Path, model, optimizer, scheduler, config: TrainConfig, fingerprint: str) -> dict:
    if not path.is_file():
        raise DataError(f"nothing to resume: no training state at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch reports a broken file in many ways
        raise DataError(f"{path} is not a readable training state: {first_line(error)}") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise DataError(f"{path} is not a Segue training state")
    if state["data_fingerprint"] != fingerprint:
        raise DataError(f"{path} was trained on other data than {config.data}: resume with the same data")
    saved = {k: v for k, v in state["train_config"].items() if k not in ("threads", "device", "save_every")}
    now = {k: v for k, v in asdict(config).items() if k not in ("threads", "device", "save_every")}
    if saved != now:
        changed = ", ".join(sorted(k for k in now if saved.get(k) != now[k]))
        raise DataError(f"{path} was saved with other settings ({changed}): resume with the same ones")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    return dict(state["position"])


def _lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))
