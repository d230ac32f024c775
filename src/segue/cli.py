"""The `segue` command: a thin layer over the library. Errors are one line on stderr, exit status 2."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from . import __version__
from .audio import AudioError
from .config import FINE_TUNING, PRESETS
from .modelfile import DEFAULT_MODEL, CheckpointError
from .data import DEFAULT_DATA, DEFAULT_SHARDS, DataError
from .generate import PACE_DRAWS, ExtendError
from .keyboard import DEFAULT_TAKES_DIR, KeyboardError
from .microphone import MicrophoneError
from .files import write_atomically
from .metrics import PACE_BAND
from .midi_io import MidiError
from .options import DEFAULTS
from .performances import TIMBRES
from .transcribe import TranscriptionError
from .threads import GENERATION_THREADS, use_threads

EXIT_USAGE = 2
TRAINING_MODULES = ("torch", "music21", "matplotlib", "mir_eval")  # segue[train]: data preparation, training, evaluation
MODEL_HELP = "a model file (.npz; default: the shipped model), or a training checkpoint (.pt, needs PyTorch)"
USER_ERRORS = (MidiError, ExtendError, CheckpointError, DataError, KeyboardError, AudioError, TranscriptionError,
               MicrophoneError, OSError)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own two-line usage error, made one line
        raise SystemExit(_fail(f"{self.prog}: {message}"))


def _threads_option(parser: argparse.ArgumentParser, default: int | None) -> None:
    parser.add_argument("--threads", type=int, default=default,
                        help=f"CPU threads for the arithmetic (default {default})" if default else
                        "CPU threads for the arithmetic (default: half the cores, at least 1)")


def _any_pace_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--any-pace", action="store_true",
                        help="keep the first continuation drawn even if it plays at half or double the input's pace (by "
                             f"default one that strays past x{PACE_BAND[0]:g}-{PACE_BAND[1]:g} of its note spacing is "
                             f"drawn again, {PACE_DRAWS - 1} more times at most)")


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="segue", description="Extend a played melody with a trained GRU.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    extend = commands.add_parser("extend", help="write a continuation of a MIDI file or a sung recording")
    extend.add_argument("input", type=Path, help="the melody: a MIDI file, or a recording of one voice (WAV, FLAC, OGG "
                                                 "or MP3: sung, hummed, whistled or played), told apart by content")
    extend.add_argument("-o", "--output", type=Path, required=True, help="where to write the continuation (.mid)")
    extend.add_argument("--seconds", type=float, default=DEFAULTS.seconds,
                        help=f"length of the continuation (default {DEFAULTS.seconds:g})")
    extend.add_argument("--temperature", type=float, default=DEFAULTS.temperature,
                        help=f"lower is safer, higher is wilder (default {DEFAULTS.temperature:g})")
    extend.add_argument("--top-p", type=float, default=DEFAULTS.top_p,
                        help=f"nucleus sampling mass (default {DEFAULTS.top_p:g})")
    extend.add_argument("--seed", type=int, help="same seed and input give the same continuation")
    extend.add_argument("--variations", type=int, default=DEFAULTS.variations, help="write OUTPUT-1.mid ... OUTPUT-K.mid")
    extend.add_argument("--key", help='keep every note in this key: "D major", "F# minor", or "auto" (the input\'s key)')
    _any_pace_option(extend)
    extend.add_argument("--include-input", action="store_true", help="write the input followed by the continuation")
    extend.add_argument("--track", type=int, help="read the melody from this track, counting from 1 (default: the "
                                                  "file's melody part, as `segue prepare` picks it)")
    extend.add_argument("--checkpoint", type=Path, default=DEFAULT_MODEL, help=MODEL_HELP)
    _threads_option(extend, GENERATION_THREADS)
    extend.set_defaults(run=_extend)

    prepare = commands.add_parser("prepare", help="build training data: the music21 corpus, or your own files (--from)")
    prepare.add_argument("--from", dest="sources", type=Path, action="append",
                         help="a folder of MIDI, MusicXML, ABC or kern files, searched recursively (repeatable)")
    prepare.add_argument("--out", type=Path, help=f"where to write it (default {DEFAULT_DATA}; with --from, "
                                                  f"{DEFAULT_SHARDS}/, a folder of shards)")
    prepare.add_argument("--workers", type=int, default=None, help="parallel parsers (default: one per core)")
    prepare.set_defaults(run=_prepare)

    train = commands.add_parser("train", help="train a model on prepared data")
    train.add_argument("--preset", choices=("default", "lstm", "transformer", "tiny"), default="default", help="model and training config")
    train.add_argument("--data", type=Path, help=f"prepared data (default {PRESETS['default'][1].data})")
    train.add_argument("--out", type=Path, help=f"where to save the best checkpoint (default: the preset's, "
                       f"{PRESETS['default'][1].out} for default; with --init, INIT-tuned.pt beside it)")
    train.add_argument("--epochs", type=int, help=f"passes over the training songs (default: the preset's, "
                       f"{PRESETS['default'][1].epochs} for default)")
    train.add_argument("--max-songs", type=int, help="use only this many songs per split (default: all)")
    train.add_argument("--seed", type=int, help=f"the run's seed (default: the preset's, {PRESETS['default'][1].seed})")
    train.add_argument("--init", type=Path, help="start from this trained model (fine-tuning); its configs are kept")
    train.add_argument("--resume", action="store_true", help="continue the interrupted run that writes --out")
    train.add_argument("--device", help="auto (default: a CUDA GPU if there is one), cpu, cuda or cuda:N")
    train.add_argument("--batch-size", type=int, help=f"pairs per step over all processes (default: the preset's, "
                       f"{PRESETS['default'][1].batch_size} for default)")
    train.add_argument("--save-every", type=int, help=f"steps between resumable saves (default "
                       f"{PRESETS['default'][1].save_every})")
    train.add_argument("--no-mixture", action="store_true", help="skip fitting the pitch mixture after training")
    train.add_argument("--learning-rate", type=float, help=f"peak learning rate (default: the preset's, "
                       f"{PRESETS['default'][1].learning_rate:g} for default; with --init {FINE_TUNING['learning_rate']:g})")
    train.add_argument("--warmup-steps", type=int, help=f"steps of linear warm-up (default: the preset's, "
                       f"{PRESETS['default'][1].warmup_steps} for default; with --init {FINE_TUNING['warmup_steps']})")
    _threads_option(train, None)
    train.set_defaults(run=_train)
    mixture = commands.add_parser("fit-mixture", help="fit a trained model's pitch mixture (n-gram chains over "
                                  "intervals) on prepared data and save it in the checkpoint")
    mixture.add_argument("checkpoint", type=Path, help="the trained model (.pt), updated in place")
    mixture.add_argument("--data", type=Path, default=DEFAULT_DATA, help="prepared data: the training songs teach the "
                         "long-term chain, the validation songs choose the weights")
    mixture.add_argument("--max-songs", type=int, help="use only this many songs per split")
    mixture.add_argument("--remove", action="store_true", help="remove the checkpoint's mixture instead")
    mixture.set_defaults(run=_fit_mixture)
    export = commands.add_parser("export", help="write a training checkpoint as a model file (.npz), which "
                                 "generation reads without PyTorch")
    export.add_argument("checkpoint", type=Path, help="the trained model (.pt)")
    export.add_argument("-o", "--output", type=Path, required=True, help="the model file to write (.npz)")
    export.set_defaults(run=_export)
    evaluate = commands.add_parser(
        "evaluate", help="measure the model against baselines on held-out songs",
        description="Measure the model against baselines on held-out songs. Continuations are made as `segue extend` "
                    "makes them: one that strays from its input's pace is drawn again (the tempo sweep also reports "
                    "each first draw).")
    evaluate.add_argument("--checkpoint", type=Path, default=DEFAULT_MODEL,
                          help="the model to evaluate, a checkpoint (.pt) or a model file (default: the shipped one)")
    evaluate.add_argument("--split", choices=("test", "valid"), default="test", help="held-out songs to use")
    evaluate.add_argument("--out", type=Path, default=Path("out/evaluation"),
                          help="writes OUT.md, OUT.json and pictures in OUT/ (default out/evaluation; the committed "
                               "report is docs/evaluation)")
    evaluate.add_argument("--data", type=Path, default=DEFAULT_DATA, help="prepared data")
    evaluate.add_argument("--compare", type=Path, action="append",
                          help="another checkpoint to compare (repeatable; default: the others beside --checkpoint)")
    evaluate.add_argument("--max-pairs", type=int, help="evaluate only this many pairs (quick runs)")
    evaluate.add_argument("--max-training-songs", type=int, help="fit the n-gram on only this many training songs")
    _threads_option(evaluate, None)
    evaluate.add_argument("--sweep-pairs", type=int, default=300,
                          help="inputs per robustness sweep (tempo, length, temperature, chained, register, key; default 300)")
    evaluate.add_argument("--unseen", type=Path, action="append", default=[],
                          help="prepared data of music no model here learnt from (`segue prepare --from FOLDER --out "
                               "PATH`): every song in it counts, in a section of its own (repeatable)")
    evaluate.set_defaults(run=_evaluate)

    heard = commands.add_parser("evaluate-transcription",
                                help="measure how recordings of voices and instruments become notes, and what that "
                                     "changes in the continuations; writes docs/transcription.md and .json")
    heard.add_argument("--data", type=Path, default=DEFAULT_DATA, help="prepared data (melodies from its held-out songs)")
    heard.add_argument("--split", choices=("test", "valid"), default="test", help="held-out songs to use")
    heard.add_argument("--melodies", type=int, default=40, help="melodies per voice and noise level (default 40)")
    heard.add_argument("--timbre", action="append", help="a voice to use (repeatable; default: all of "
                                                           f"{', '.join(TIMBRES)})")
    heard.add_argument("--checkpoint", type=Path, default=DEFAULT_MODEL,
                       help="the model whose continuations are compared (default: the shipped one)")
    heard.add_argument("--no-continuations", action="store_true", help="transcription scores only")
    heard.add_argument("--out", type=Path, default=Path("out/transcription"),
                       help="writes OUT.md and OUT.json (default out/transcription; the committed report is "
                            "docs/transcription)")
    _threads_option(heard, None)
    heard.set_defaults(run=_evaluate_transcription)

    serve = commands.add_parser("serve", help="run the web app and JSON API")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, help="port (default 8000; 0 picks a free one)")
    serve.add_argument("--checkpoint", type=Path, help=MODEL_HELP)
    serve.add_argument("--workers", type=int, help="server processes, each with its own model (default 1; one per "
                                                   "core serves the most requests per second)")
    _threads_option(serve, GENERATION_THREADS)
    serve.set_defaults(run=_serve)

    bench = commands.add_parser("bench", help="measure model and server speed; write docs/benchmarks.md and .json")
    bench.add_argument("--checkpoint", type=Path, default=DEFAULT_MODEL, help=MODEL_HELP)
    bench.add_argument("--workers", type=int, default=1, help="server processes (default 1, as `segue serve`)")
    bench.add_argument("--baseline", type=Path, help="an earlier model to time alongside, run for run (e.g. "
                       "models/segue-gru-v1.pt)")
    bench.add_argument("--runs", type=int, default=300,
                       help="timed model runs per figure, and a third as many transcriptions (default 300)")
    bench.add_argument("--clients", default="1,4,16,32", help="concurrent clients per load level (default 1,4,16,32)")
    bench.add_argument("--requests", type=int, default=300, help="requests per load level, at least (default 300)")
    bench.add_argument("--markdown", type=Path, default=Path("docs/benchmarks.md"), help="report to write")
    bench.add_argument("--json", type=Path, default=Path("docs/benchmarks.json"), help="figures to write")
    bench.set_defaults(run=_bench)

    soak = commands.add_parser("soak", help="a long run of valid and invalid requests against a real server: "
                                            "no errors, flat memory")
    soak.add_argument("--checkpoint", type=Path, default=DEFAULT_MODEL, help=MODEL_HELP)
    soak.add_argument("--requests", type=int, default=10_000, help="requests in all (default 10000)")
    soak.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    soak.add_argument("--json", type=Path, default=Path("docs/soak.json"), help="figures to write")
    soak.set_defaults(run=_soak)

    ports = commands.add_parser("ports", help="list MIDI inputs and outputs")
    ports.set_defaults(run=_ports)

    play = commands.add_parser("play", help="keyboard mode: record a phrase, hear its continuation")
    play.add_argument("--port", help="MIDI input to record from (default: the first keyboard)")
    play.add_argument("--mic", nargs="?", const="", metavar="DEVICE",
                      help="sing, hum or whistle into a microphone instead (default: the system's; or a PortAudio "
                           "device name or number); each take is kept as a WAV file and transcribed")
    play.add_argument("--out-port", help="MIDI output to play the continuation on (a synth, or the keyboard)")
    play.add_argument("--audio", action="store_true", help="play through FluidSynth on the sound card")
    play.add_argument("--soundfont", type=Path, help="General MIDI SoundFont for --audio")
    play.add_argument("--seconds", type=float, default=DEFAULTS.seconds,
                      help=f"length of the recording and of the continuation (default {DEFAULTS.seconds:g})")
    play.add_argument("--countdown", type=int, default=3, help="seconds of count-in (default 3)")
    play.add_argument("--takes-dir", type=Path, default=DEFAULT_TAKES_DIR,
                      help=f"where takes are saved (default {DEFAULT_TAKES_DIR})")
    play.add_argument("--replay", type=Path, help="play this MIDI file into the recorder, as if from a keyboard, "
                                                  "or this recording (WAV, FLAC, OGG, MP3), as if into a microphone")
    play.add_argument("--server", help="use a running `segue serve` at this URL instead of loading the model")
    play.add_argument("--loop", action="store_true", help="call and response: the next take starts after playback")
    play.add_argument("--takes", type=int, help="stop after this many takes")
    play.add_argument("--temperature", type=float, default=DEFAULTS.temperature,
                      help=f"lower is safer, higher is wilder (default {DEFAULTS.temperature:g})")
    play.add_argument("--top-p", type=float, default=DEFAULTS.top_p,
                      help=f"nucleus sampling mass (default {DEFAULTS.top_p:g})")
    play.add_argument("--seed", type=int, help="same seed and take give the same continuation")
    play.add_argument("--key", help='keep every note in a key: "D major", or "auto"')
    _any_pace_option(play)
    play.add_argument("--checkpoint", type=Path, default=DEFAULT_MODEL, help=MODEL_HELP)
    _threads_option(play, GENERATION_THREADS)
    play.set_defaults(run=_play)
    return parser


def _extend(args: argparse.Namespace) -> int:
    from .generate import check_options, extend
    from .modelfile import load_model
    from .options import random_seed
    from .midi_io import meter_of, write_midi
    from .transcribe import read_melody

    if args.output.suffix.lower() not in (".mid", ".midi"):
        return _fail(f"output must be a .mid file, got {args.output}")
    check_options(args.seconds, args.temperature, args.top_p, args.variations)
    outputs = _output_paths(args.output, args.variations)
    if any(path.resolve() == args.input.resolve() for path in outputs):
        return _fail(f"refusing to overwrite the input {args.input}: choose another output name")
    melody = read_melody(args.input.read_bytes(), args.track)
    checkpoint = load_model(args.checkpoint)
    seed = random_seed() if args.seed is None else args.seed
    started = time.perf_counter()
    continuations = extend(
        melody.notes, seconds=args.seconds, temperature=args.temperature, top_p=args.top_p, seed=seed,
        variations=args.variations, input_length=melody.length, checkpoint=checkpoint, key=args.key,
        keep_pace=not args.any_pace,
    )
    elapsed_ms = (time.perf_counter() - started) * 1000
    meter = meter_of(melody)
    for notes, path in zip(continuations, outputs):
        if args.include_input:
            write_midi(melody.notes + [n.shifted(melody.length) for n in notes], path, melody.length + args.seconds, meter)
        else:
            write_midi(notes, path, args.seconds, meter)
    counts = "/".join(str(len(notes)) for notes in continuations)
    names = str(outputs[0]) if len(outputs) == 1 else f"{outputs[0]} .. {outputs[-1]}"
    drawn = f"seed {seed}" if args.temperature > 0 else "the likeliest notes (temperature 0: no seed)"
    print(f"wrote {names}: {counts} notes, {args.seconds:.2f} s continuation"
          f"{' after the input' if args.include_input else ''}, {drawn}, generated in {elapsed_ms:.0f} ms")
    return 0


def _output_paths(output: Path, count: int) -> list[Path]:
    if count == 1:
        return [output]
    return [output.with_name(f"{output.stem}-{i}{output.suffix}") for i in range(1, count + 1)]


def _prepare(args: argparse.Namespace) -> int:
    from .data import prepare
    from .ingest import prepare_from

    if args.workers is not None and args.workers < 1:
        return _fail("--workers must be at least 1")
    if not args.sources:
        print(json.dumps(prepare(args.out or DEFAULT_DATA, workers=args.workers), indent=1))
        return 0
    out = args.out or DEFAULT_SHARDS
    manifest = prepare_from(args.sources, out, workers=args.workers)
    skipped = ", ".join(f"{count} {reason}" for reason, count in manifest["skipped_by_reason"].items())
    print(f"read {manifest['files_read']} of {manifest['files_found']} files; skipped {manifest['files_skipped']}"
          f"{f' ({skipped}; see {out}/skipped.tsv)' if skipped else ''}; {manifest['duplicate_files']} duplicate "
          f"files and {manifest['duplicate_songs']} duplicate tunes left out")
    songs = manifest["songs"]
    print(f"wrote {out}: {sum(songs.values())} songs ({songs['train']} train, {songs['valid']} validation, "
          f"{songs['test']} test) in {len(manifest['shards'])} shards")
    for warning in manifest["warnings"]:
        print(f"warning: {warning}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from .checkpoint import load_checkpoint
    from .train import pick_device, train

    model_config, config = PRESETS[args.preset]
    if args.learning_rate is not None and not args.learning_rate > 0:
        return _fail(f"--learning-rate must be above 0, got {args.learning_rate}")
    for name in ("epochs", "batch_size", "save_every", "max_songs", "warmup_steps"):
        value = getattr(args, name)
        if value is not None and value < 1:
            return _fail(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    out = args.out
    if out is None and args.init is not None:  # fine-tuning never overwrites the model it starts from
        out = args.init.with_name(f"{args.init.stem}-tuned.pt")
    if args.init is not None:  # fine-tuning has its own schedule (config.FINE_TUNING)
        config = replace(config, **FINE_TUNING)
    overrides = {"data": args.data, "out": out, "epochs": args.epochs, "max_songs": args.max_songs, "seed": args.seed,
                 "device": args.device, "batch_size": args.batch_size, "save_every": args.save_every,
                 "learning_rate": args.learning_rate, "warmup_steps": args.warmup_steps, "threads": args.threads,
                 "pitch_mixture": False if args.no_mixture else None}
    config = replace(config, **{k: (str(v) if isinstance(v, Path) else v) for k, v in overrides.items() if v is not None})
    try:
        pick_device(config.device)
    except ValueError as error:
        return _fail(str(error))
    init = load_checkpoint(args.init) if args.init is not None else None
    first_process = int(os.environ.get("RANK", "0")) == 0  # under torchrun, only rank 0 reports
    checkpoint = train(model_config, config, init=init, resume=args.resume, progress=first_process)
    metrics = checkpoint.metrics
    if first_process:
        total = metrics["total_train_seconds"]
        before_resume = f" ({total:.0f} s with the run before the resume)" if total - metrics["train_seconds"] > 1 else ""
        print(f"saved {config.out}: best validation {metrics['best_valid_bits_per_note']:.3f} bits per note "
              f"(epoch {metrics['best_epoch']}; {metrics['initial_valid_bits_per_note']:.3f} before training), "
              f"trained in {metrics['train_seconds']:.0f} s{before_resume} on "
              f"{metrics['world_size']} process(es), {metrics['device']}")
        if "pitch_mixture" in metrics:
            print(_mixture_line(metrics["pitch_mixture"]))
    return 0


def _mixture_line(fit: dict) -> str:
    return (f"pitch mixture: {fit['valid_pitch_bits']:.3f} pitch bits per note on validation, the network alone "
            f"{fit['valid_pitch_bits_network']:.3f} (weights {', '.join(f'{w:.2f}' for w in fit['prior'])}, "
            f"bias {fit['bias']:g})")


def _fit_mixture(args: argparse.Namespace) -> int:
    from .checkpoint import load_checkpoint, save_checkpoint
    from .data import load_corpus
    from .mixing import fit_mixture

    if args.max_songs is not None and args.max_songs < 1:
        return _fail(f"--max-songs must be at least 1, got {args.max_songs}")
    try:
        checkpoint = load_checkpoint(args.checkpoint)
        if args.remove:
            checkpoint.mixture = None
            checkpoint.metrics.pop("pitch_mixture", None)
        else:
            checkpoint.mixture, checkpoint.metrics["pitch_mixture"] = fit_mixture(checkpoint, load_corpus(args.data),
                                                                                 args.max_songs)
    except ValueError as error:  # no checkpoint, no data, no validation songs
        return _fail(str(error))
    save_checkpoint(checkpoint, args.checkpoint)
    print(f"removed the pitch mixture from {args.checkpoint}" if args.remove
          else f"saved {args.checkpoint}: " + _mixture_line(checkpoint.metrics["pitch_mixture"]))
    return 0


def _export(args: argparse.Namespace) -> int:
    from .checkpoint import export_model, load_checkpoint

    if args.output.suffix.lower() != ".npz":
        return _fail(f"output must be a .npz file, got {args.output}")
    export_model(load_checkpoint(args.checkpoint), args.output)
    print(f"wrote {args.output}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate
    from .report import write_report
    from .threads import training_threads

    use_threads(args.threads or training_threads())  # PyTorch is loaded now: it is limited too
    if args.sweep_pairs < 1:
        return _fail(f"--sweep-pairs must be at least 1, got {args.sweep_pairs}")
    compare = args.compare
    if compare is None:
        compare = sorted(p for p in args.checkpoint.parent.glob("*.pt") if p.resolve() != args.checkpoint.resolve())
    try:
        results, examples = evaluate(args.checkpoint, args.split, args.data, tuple(compare), args.max_pairs,
                                     args.max_training_songs, sweep_pairs=args.sweep_pairs, unseen=tuple(args.unseen))
    except ValueError as error:  # no data, no checkpoint, an empty split, two models of one name
        return _fail(str(error))
    written = write_report(results, examples, args.out, args.command_line)
    for name, target in results["targets"].items():
        value = target["value"]
        shown = ", ".join(f"{v:.3f}" for v in value) if isinstance(value, list) else "—" if value is None else f"{value:.3f}"
        print(f"{name}: {shown} (target {target['target']}) {'met' if target['met'] else 'NOT met'}")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _evaluate_transcription(args: argparse.Namespace) -> int:
    from .audio import find_soundfont
    from .threads import training_threads
    from .transcription_eval import evaluate_transcription, write_report

    use_threads(args.threads or training_threads())
    unknown = [t for t in args.timbre or () if t not in TIMBRES]
    if unknown:
        return _fail(f"unknown voice {unknown[0]!r}: choose from {', '.join(TIMBRES)}")
    if args.melodies < 1:
        return _fail(f"--melodies must be at least 1, got {args.melodies}")
    find_soundfont()  # a missing SoundFont is one line now, not after the data is read
    try:
        results = evaluate_transcription(args.data, args.split, args.melodies, tuple(args.timbre or TIMBRES),
                                         None if args.no_continuations else args.checkpoint)
    except ValueError as error:  # no data, an empty split
        return _fail(str(error))
    written = write_report(results, args.out, args.command_line)
    for name, target in results["targets"].items():
        print(f"{name}: {target['value']} (target {target['target']}) {'met' if target['met'] else 'NOT met'}")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _serve(args: argparse.Namespace) -> int:
    import socket

    import uvicorn
    from pydantic import ValidationError
    from uvicorn.supervisors import Multiprocess

    from .modelfile import load_model
    from .server import Settings, create_app

    overrides = {"host": args.host, "port": args.port, "checkpoint": args.checkpoint, "workers": args.workers}
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as error:
        first = error.errors()[0]
        return _fail(f"{'.'.join(map(str, first['loc']))}: {first['msg']}")
    checkpoint = load_model(settings.checkpoint)  # a bad model fails here, in one line, before listening
    # Bind before starting uvicorn: a busy port is one clear line, and port 0 tells us which port it got.
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    # IPPROTO_TCP said outright: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on sockets
    # that name it, and with Nagle on, a keep-alive client waits 40 ms for each answer's body.
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((settings.host, settings.port))
    except OSError as error:
        listener.close()
        return _fail(f"cannot listen on {settings.host}:{settings.port}: {error.strerror or error}")
    port = listener.getsockname()[1]
    host = f"[{settings.host}]" if family == socket.AF_INET6 else settings.host
    print(f"Segue is running at http://{host}:{port}/ (API docs at /docs); Ctrl-C stops it", flush=True)
    if settings.workers == 1:
        uvicorn.Server(uvicorn.Config(create_app(settings, checkpoint), log_level="warning")).run(sockets=[listener])
        return 0
    # Worker processes share the socket and build their app from the environment (SEGUE_*); one
    # BLAS thread each, as the workers already fill the cores.
    os.environ.update({f"SEGUE_{name.upper()}": str(value) for name, value in settings.model_dump().items()})
    os.environ.update(dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1"))
    config = uvicorn.Config("segue.server.app:create_app", factory=True, workers=settings.workers, log_level="warning")
    Multiprocess(config, sockets=[listener]).run()
    return 0


def _bench(args: argparse.Namespace) -> int:
    from . import bench

    try:
        clients = tuple(int(c) for c in args.clients.split(","))
    except ValueError:
        return _fail(f"--clients must be numbers separated by commas, got {args.clients!r}")
    if args.runs < 1 or args.requests < 1 or args.workers < 1 or min(clients) < 1:
        return _fail("--runs, --requests, --workers and each of --clients must be at least 1")
    config = bench.BenchConfig(checkpoint=args.checkpoint, baseline=args.baseline, model_runs=args.runs,
                               transcription_runs=max(1, args.runs // 3), workers=args.workers, concurrency=clients,
                               min_requests=args.requests)
    result = bench.run(config, args.command_line)
    bench.write(result, args.markdown, args.json)
    print(bench.summary(result))
    print(f"wrote {args.markdown} and {args.json}")
    return 0


def _soak(args: argparse.Namespace) -> int:
    from . import soak
    from .modelfile import load_model

    if args.requests < 10 or args.clients < 1:
        return _fail("--requests must be at least 10 and --clients at least 1")
    load_model(args.checkpoint)  # a bad model fails here, in one line, not inside the server
    rounds = min(10, args.requests // 10)
    config = soak.SoakConfig(checkpoint=args.checkpoint, requests=args.requests, clients=args.clients, rounds=rounds,
                             warm_up_requests=min(1000, args.requests // 10))
    result = soak.run(config, args.command_line)
    write_atomically(args.json, json.dumps(result, indent=2) + "\n")
    print(soak.summary(result))
    print(f"wrote {args.json}")
    return 0 if result["passed"] else 1


def _ports(args: argparse.Namespace) -> int:
    from .keyboard import list_ports

    inputs, outputs = list_ports()
    for title, names in (("inputs", inputs), ("outputs", outputs)):
        print(f"MIDI {title}:")
        print("\n".join(f"  {name}" for name in names) if names else "  (none)")
    return 0


def _play(args: argparse.Namespace) -> int:
    from .audio import FluidSynthOutput
    from .generate import WARM_UP_PHRASE, check_options
    from .keyboard import (Clock, Display, ReplayInput, Session, SessionOptions, continue_in_process,
                           continue_with_server, flushed, open_input, open_output)
    from .keys import parse_key
    from .microphone import Microphone, ReplayMicrophone
    from .modelfile import load_model

    check_options(args.seconds, args.temperature, args.top_p, 1)
    if args.countdown < 0:
        return _fail(f"--countdown must be 0 or more seconds, got {args.countdown}")
    if args.takes is not None and args.takes < 1:
        return _fail(f"--takes must be 1 or more, got {args.takes}")
    if args.out_port and args.audio:
        return _fail("choose one of --out-port and --audio")
    if args.key and args.key.strip().lower() != "auto":
        try:
            parse_key(args.key)  # a bad key name fails now, not after a take
        except ValueError as error:
            return _fail(str(error))
    if args.mic is not None and (args.port or args.replay):
        return _fail("choose one of --mic, --port and --replay")
    # The model, or the server, before any port is opened: a failure here leaves none open.
    if args.server:
        generate = continue_with_server(args.server, args.temperature, args.top_p, args.seed, args.key,
                                        keep_pace=not args.any_pace)
    else:  # loaded and warmed before the count-in, so the first take is answered at full speed
        generate = continue_in_process(load_model(args.checkpoint), args.temperature, args.top_p, args.seed,
                                       args.key, keep_pace=not args.any_pace)
        generate(WARM_UP_PHRASE, 2.0, args.seconds)
    clock = Clock()
    if args.replay and _is_recording(args.replay):
        recording = ReplayMicrophone(args.replay)  # one recording, heard take after take
        source = lambda: recording  # noqa: E731
    elif args.replay:
        ReplayInput(args.replay, clock)  # a bad file fails now, before the count-in
        source = lambda: ReplayInput(args.replay, clock)  # noqa: E731 - a fresh replay for each take
    elif args.mic is not None:
        microphone = Microphone(int(args.mic) if args.mic.isdigit() else args.mic or None)
        source = lambda: microphone  # noqa: E731
    else:
        keyboard = open_input(args.port)
        source = lambda: flushed(keyboard)  # noqa: E731
    output = FluidSynthOutput(args.soundfont) if args.audio else open_output(args.out_port) if args.out_port else None
    options = SessionOptions(args.seconds, args.countdown, args.takes_dir, args.loop, args.takes)
    try:
        Session(options, source, output, generate, Display(), clock).run()
    finally:
        if output is not None:
            output.close()
    return 0


def _is_recording(path: Path) -> bool:
    """Whether a file to replay is a recording; one that is neither a recording nor MIDI is
    refused naming both (the MIDI reader says what is wrong with a path it cannot read)."""
    from .transcribe import is_recording

    try:
        with open(path, "rb") as file:
            head = file.read(16)
    except OSError:
        return False
    return is_recording(head, str(path))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    args.command_line = " ".join(["segue", *argv])  # recorded in reports so they say how to rerun them
    if getattr(args, "threads", None) is not None and args.threads < 1:
        return _fail(f"--threads must be at least 1, got {args.threads}")
    try:
        if args.command in ("extend", "serve", "play"):
            use_threads(args.threads)
        return args.run(args)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in TRAINING_MODULES:
            raise
        return _fail(f"segue {args.command} needs the training extras (missing {error.name}): "
                     "pip install 'segue[train]'")
    except USER_ERRORS as error:
        message = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        filename = getattr(error, "filename", None)
        return _fail(f"{filename}: {message}" if filename else message)


if __name__ == "__main__":
    sys.exit(main())
