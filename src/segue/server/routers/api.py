"""The JSON API. The extend routes hand their work to the app's batcher, which runs the model off
the event loop; the other routes are plain functions, which FastAPI runs in its thread pool."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Annotated

from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ...modelfile import Model
from ...generate import input_end, prepare, trained_playing
from ... import midi_io
from ...midi_io import Meter, meter_of, midi_bytes, read_midi
from ...notes import quantized
from ...options import random_seed
from ...tempo import estimate_bpm
from ...transcribe import is_audio, read_melody, transcribe
from ...notes import Note
from ..schemas import (
    ERROR_RESPONSES,
    TRACK_DESCRIPTION,
    TranscriptionResponse,
    ExtendOptions,
    ExtendRequest,
    ExtendResponse,
    Extension,
    Health,
    Limits,
    Melody,
    MidiExtendOptions,
    ModelInfo,
    ModelRef,
    NoteModel,
    WriteMidiRequest,
)
from ..batcher import Batcher
from ..settings import Settings

MIDI_TYPE = "audio/midi"

router = APIRouter(prefix="/api", responses=ERROR_RESPONSES)
RECORDING_ROUTES = ("/api/transcribe", "/api/extend.mid")  # the routes that take recordings: larger bodies


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_checkpoint(request: Request) -> Model:
    return request.app.state.checkpoint


def get_batcher(request: Request) -> Batcher:
    return request.app.state.batcher


def get_model_ref(request: Request) -> ModelRef:
    return ModelRef(name=request.app.state.checkpoint.name, version=request.app.state.model_version)


SettingsDep = Annotated[Settings, Depends(get_settings)]
CheckpointDep = Annotated[Model, Depends(get_checkpoint)]
BatcherDep = Annotated[Batcher, Depends(get_batcher)]


@router.post("/extend", response_model=ExtendResponse, summary="Continue a melody given as JSON notes")
async def extend_notes(body: ExtendRequest, batcher: BatcherDep, settings: SettingsDep,
                       model: Annotated[ModelRef, Depends(get_model_ref)]) -> Response:
    if len(body.notes) > settings.max_input_notes:
        raise HTTPException(422, f"notes: at most {settings.max_input_notes} notes per request, got {len(body.notes)}")
    notes = [n.to_note() for n in body.notes]
    seed, continuations, elapsed_ms = await _continue(notes, body.input_seconds, body, body.variations, batcher,
                                                      settings)
    answer = ExtendResponse(
        extensions=[Extension(notes=[NoteModel.of(n) for n in c]) for c in continuations],
        input_seconds=input_end(notes, body.input_seconds),
        seconds=body.seconds,
        seed=seed,
        bpm=estimate_bpm(notes),
        model=model,
        elapsed_ms=round(elapsed_ms, 3),
    )
    # Serialized here by pydantic: FastAPI would check the finished answer against its model again.
    return Response(answer.model_dump_json(), media_type="application/json")


@router.post("/extend.mid", response_class=Response, summary="Continue a melody given as a MIDI file or a recording",
             responses={200: {"content": {MIDI_TYPE: {}}, "description": "the continuation as a MIDI file"}})
async def extend_midi_file(file: Annotated[UploadFile, File(description="a standard MIDI file or a recording "
                                                                        "(WAV, FLAC, OGG or MP3) of one voice")],
                           options: Annotated[MidiExtendOptions, Query()], batcher: BatcherDep,
                           settings: SettingsDep) -> Response:
    melody = await run_in_threadpool(_read_melody, file, settings, options.track, True)
    seed, [continuation], _ = await _continue(melody.notes, melody.length, options, 1, batcher, settings)
    if options.include_input:
        notes = melody.notes + [n.shifted(melody.length) for n in continuation]
        length = melody.length + options.seconds
    else:
        notes, length = continuation, options.seconds
    name = f"{_safe_stem(file.filename)}-extended.mid"
    return Response(midi_bytes(notes, length, meter_of(melody)), media_type=MIDI_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "X-Segue-Seed": str(seed)})


@router.post("/transcribe", response_model=TranscriptionResponse,
             summary="A recording of one voice (sung, hummed, whistled or played) as JSON notes")
def transcribe_file(file: Annotated[UploadFile, File(description="WAV, FLAC, OGG or MP3; mono or stereo; any rate")],
                    settings: SettingsDep) -> TranscriptionResponse:
    data = _read_upload(file, settings)
    if not is_audio(data):
        raise HTTPException(415, "file: not a recording (WAV, FLAC, OGG or MP3); a MIDI file goes to /api/read-midi")
    result = transcribe(data, settings.transcription)
    return TranscriptionResponse(notes=[NoteModel.of(n) for n in result.notes], input_seconds=result.seconds,
                                 tuning_cents=result.tuning_cents, estimated_bpm=estimate_bpm(result.notes))


@router.post("/read-midi", response_model=Melody, summary="A MIDI file's melody as JSON notes")
def read_midi_file(file: Annotated[UploadFile, File(description="a standard MIDI file")], settings: SettingsDep,
                   track: Annotated[int | None, Query(ge=1, le=65535, description=TRACK_DESCRIPTION)] = None) -> Melody:
    melody = _read_melody(file, settings, track)
    return Melody(notes=[NoteModel.of(n) for n in melody.notes], input_seconds=melody.length, bpm=melody.bpm,
                  time_signature=melody.time_signature, estimated_bpm=estimate_bpm(melody.notes), track=melody.track,
                  tracks=list(melody.tracks))


@router.post("/write-midi", response_class=Response, summary="JSON notes as a MIDI file",
             responses={200: {"content": {MIDI_TYPE: {}}, "description": "a format-0 MIDI file lasting `seconds`"}})
def write_midi_file(body: WriteMidiRequest) -> Response:
    meter = Meter(body.bpm, *body.time_signature)
    notes = [n.to_note() for n in body.notes]
    if body.quantize is not None:
        notes = quantized(notes, body.quantize * 60 / meter.bpm, body.seconds)
    data = midi_bytes(notes, body.seconds, meter)
    return Response(data, media_type=MIDI_TYPE, headers={"Content-Disposition": 'attachment; filename="segue.mid"'})


@router.get("/health", response_model=Health)
def health(checkpoint: CheckpointDep) -> Health:
    return Health(status="ok", model=checkpoint.name)


@router.get("/model", response_model=ModelInfo, summary="The model being served and what it was trained on")
def model_info(request: Request, checkpoint: CheckpointDep, settings: SettingsDep) -> ModelInfo:
    config, metrics = checkpoint.config, checkpoint.metrics
    return ModelInfo(
        name=checkpoint.name,
        version=request.app.state.model_version,
        cell=config.cell,
        parameters=checkpoint.parameter_count,
        hidden_size=config.hidden_size,
        num_layers=config.num_layers,
        context_notes=checkpoint.tokenizer.config.max_input_notes,
        copies=config.copy,
        pulse_seconds=checkpoint.tokenizer.config.pulse,
        pitch_mixture=None if checkpoint.mixture is None else list(checkpoint.mixture.prior),
        limits=Limits(input_notes=settings.max_input_notes),
        best_valid_bits_per_note=metrics.get("best_valid_bits_per_note"),
        epochs=metrics.get("best_epoch"),
        train_seconds=metrics.get("train_seconds"),
        data={k: checkpoint.data[k] for k in ("fingerprint", "songs") if k in checkpoint.data},
    )


async def _continue(notes: list[Note], input_seconds: float | None, options: ExtendOptions, variations: int,
                    batcher: Batcher, settings: Settings) -> tuple[int, list[list[Note]], float]:
    """The one call into the library for both extend routes: (seed used, continuations, ms from
    the request's check to its answer, time waiting for the model included). A request still
    unanswered after `settings.request_seconds` gets 503: the server is overloaded."""
    seed = random_seed() if options.seed is None else options.seed
    started = time.perf_counter()
    job = prepare(notes, batcher.checkpoint.tokenizer, seconds=options.seconds, temperature=options.temperature,
                  top_p=options.top_p, seed=seed, variations=variations, input_length=input_seconds, key=options.key,
                  keep_pace=options.keep_pace, **trained_playing(batcher.checkpoint))
    try:
        async with asyncio.timeout(settings.request_seconds):
            continuations = await batcher.extend(job)
    except TimeoutError:
        raise HTTPException(503, f"the server is too busy: no continuation within {settings.request_seconds:g} s, "
                                 "try again", headers={"Retry-After": "5"}) from None
    return seed, continuations, (time.perf_counter() - started) * 1000


def _read_melody(file: UploadFile, settings: Settings, track: int | None = None,
                 audio: bool = False) -> midi_io.Melody:
    """An upload's melody (of `track`, if given), within the size and note limits; a recording is
    transcribed when `audio` allows it."""
    data = _read_upload(file, settings)
    melody = read_melody(data, track, settings.transcription) if audio else read_midi(data, track)
    if len(melody.notes) > settings.max_input_notes:
        raise HTTPException(422, f"file: at most {settings.max_input_notes} melody notes, got {len(melody.notes)}")
    return melody


def _read_upload(file: UploadFile, settings: Settings) -> bytes:
    """The upload's bytes, within the limit of its kind: recordings may be larger than MIDI files."""
    data = file.file.read(max(settings.max_upload_bytes, settings.max_audio_bytes) + 1)
    recording = is_audio(data)
    limit = settings.max_audio_bytes if recording else settings.max_upload_bytes
    if len(data) > limit:
        kind = "recording" if recording else "MIDI file"
        raise HTTPException(413, f"file: a {kind} larger than the {limit:,} byte limit")
    return data


def _safe_stem(filename: str | None) -> str:
    """A download name from the upload's: letters, digits, dot, dash and underscore only."""
    stem = re.sub(r"\.(mid|midi)$", "", (filename or "").rsplit("/", 1)[-1], flags=re.IGNORECASE)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-")
    return stem[:80] or "melody"
