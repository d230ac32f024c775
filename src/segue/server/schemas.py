"""Request and response bodies of the JSON API. Bounds and defaults come from `segue.options`, so
the API, the library and the CLI agree on them."""

from __future__ import annotations

from dataclasses import asdict

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..generate import PACE_DRAWS
from ..metrics import PACE_BAND
from ..midi_io import DEFAULT_BPM, MAX_BPM, MIN_BPM, Meter
from ..notes import MAX_PITCH, MAX_VELOCITY, MIN_VELOCITY, Note
from ..options import DEFAULTS, MAX_SECONDS, MAX_SEED, MAX_TEMPERATURE, MAX_VARIATIONS

MAX_FILE_SECONDS = 3600.0  # the longest MIDI file the API writes: an hour


class NoteModel(BaseModel):
    """A note as the API sends and receives it: seconds from the start of the recording."""

    model_config = ConfigDict(extra="forbid")

    # The bounds are `Note`'s, written here for the schema; `Note` itself is the one validator.
    pitch: int = Field(ge=0, le=MAX_PITCH, description="MIDI pitch, 60 = middle C")
    start: float = Field(ge=0, allow_inf_nan=False, description="onset, seconds")
    end: float = Field(gt=0, allow_inf_nan=False, description="release, seconds; after start")
    velocity: int = Field(80, ge=MIN_VELOCITY, le=MAX_VELOCITY, description="MIDI velocity (0 would mean note-off)")

    @model_validator(mode="after")
    def _a_valid_note(self) -> NoteModel:
        self.to_note()  # raises ValueError naming the bad value (end not after start)
        return self

    def to_note(self) -> Note:
        return Note(self.pitch, self.start, self.end, self.velocity)

    @classmethod
    def of(cls, note: Note) -> NoteModel:
        # A Note is valid by construction, so pydantic's checks are skipped.
        return cls.model_construct(pitch=note.pitch, start=round(note.start, 6), end=round(note.end, 6),
                                   velocity=note.velocity)


class ExtendOptions(BaseModel):
    """How to continue: shared by the JSON route (body) and the MIDI route (query)."""

    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(DEFAULTS.seconds, gt=0, le=MAX_SECONDS, allow_inf_nan=False,
                           description="length of the continuation")
    temperature: float = Field(DEFAULTS.temperature, ge=0, le=MAX_TEMPERATURE, allow_inf_nan=False,
                               description="0 = most likely note, 1 = the model's own distribution")
    top_p: float = Field(DEFAULTS.top_p, gt=0, le=1, allow_inf_nan=False, description="nucleus sampling mass")
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="same seed and input give the same answer")
    key: str | None = Field(None, max_length=40, description='keep notes in a key: "D major", "F# minor" or "auto"')
    keep_pace: bool = Field(True, description=f"draw a continuation again ({PACE_DRAWS - 1} more times at most) when "
                                              f"its median note spacing is under {PACE_BAND[0]:g} or over "
                                              f"{PACE_BAND[1]:g} times the input's")


class ExtendRequest(ExtendOptions):
    notes: list[NoteModel] = Field(min_length=1, description="the input, possibly polyphonic")
    variations: int = Field(DEFAULTS.variations, ge=1, le=MAX_VARIATIONS, description="how many different continuations")
    input_seconds: float | None = Field(None, ge=0, allow_inf_nan=False,
                                        description="the recording's length (default: the last note's end)")


TRACK_DESCRIPTION = "the track to read the melody from, counting from 1 (default: the file's melody part)"


class MidiExtendOptions(ExtendOptions):
    include_input: bool = Field(False, description="answer the input followed by the continuation")
    track: int | None = Field(None, ge=1, le=65535, description=TRACK_DESCRIPTION)


class Extension(BaseModel):
    notes: list[NoteModel]


class ModelRef(BaseModel):
    name: str
    version: str


class ExtendResponse(BaseModel):
    extensions: list[Extension]
    input_seconds: float = Field(description="where the input ends; extension times count from here")
    seconds: float
    seed: int
    bpm: float | None = Field(description="the tempo heard in the input (null: too few notes to tell)")
    model: ModelRef
    elapsed_ms: float


class Melody(BaseModel):
    notes: list[NoteModel]
    input_seconds: float = Field(description="the file's length: the later of its end of track and last note-off")
    bpm: float | None = Field(None, description="the tempo the file states (null: none)")
    time_signature: tuple[int, int] | None = Field(None, description="the time signature the file states (null: none)")
    estimated_bpm: float | None = Field(None, description="the tempo heard in the melody's notes")
    track: int = Field(description="the track the melody was read from, counting from 1")
    tracks: list[int] = Field(description="every track with melodic notes: another can be asked for with track=")


class TranscriptionResponse(BaseModel):
    notes: list[NoteModel] = Field(description="the notes heard, one at a time")
    input_seconds: float = Field(description="the recording's length")
    tuning_cents: float = Field(description="how far from A440 the voice was at its end, where a continuation "
                                            "takes over (a singer may drift: each note is rounded after taking off "
                                            "the tuning of the notes around it)")
    estimated_bpm: float | None = Field(None, description="the tempo heard in the notes (null: too few to tell)")


class WriteMidiRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notes: list[NoteModel]
    seconds: float = Field(gt=0, le=MAX_FILE_SECONDS, allow_inf_nan=False, description="the file's length")
    bpm: float = Field(DEFAULT_BPM, ge=MIN_BPM, le=MAX_BPM, allow_inf_nan=False,
                       description="the tempo the file states, so its beats fall where they were played")
    time_signature: tuple[int, int] = Field((4, 4), description="[beats in a bar, beat note value (4 = quarter)]")
    quantize: float | None = Field(None, ge=1 / 32, le=4, allow_inf_nan=False,
                                   description="snap notes to this grid, in beats, from 1/32 to 4 (0.25 = sixteenth "
                                               "notes); null: as played")

    @model_validator(mode="after")
    def _a_real_time_signature(self) -> WriteMidiRequest:
        Meter(self.bpm, *self.time_signature)  # its ValueError names the bad value
        return self

    @model_validator(mode="after")
    def _holds_its_notes(self) -> WriteMidiRequest:
        last = max((n.end for n in self.notes), default=0.0)
        if last > self.seconds:
            raise ValueError(f"seconds ({self.seconds}) ends before the last note ({last})")
        return self


class Limits(BaseModel):
    """What a request may ask for, and what it gets when it does not say: the page reads both."""

    seconds: float = MAX_SECONDS
    variations: int = MAX_VARIATIONS
    temperature: float = MAX_TEMPERATURE
    seed: int = MAX_SEED
    input_notes: int
    defaults: dict = Field(default_factory=lambda: asdict(DEFAULTS))


class ModelInfo(BaseModel):
    name: str
    version: str = Field(description="the first 12 hex digits of the SHA-256 of the weights")
    cell: str
    parameters: int
    hidden_size: int
    num_layers: int
    context_notes: int = Field(description="how many of the input's last notes the model reads")
    copies: bool = Field(description="whether the pitch can copy the input's motifs (a pointer over its notes)")
    pulse_seconds: float | None = Field(description="the model hears every input as if its median note spacing were "
                                        "this long (tempo-relative timing); null: timing in seconds")
    pitch_mixture: list[float] | None = Field(description="weights of the network, the long-term and the short-term "
                                              "interval chains in the pitch mixture (before their entropy weighting); "
                                              "null: the network alone")
    limits: Limits
    best_valid_bits_per_note: float | None
    epochs: int | None
    train_seconds: float | None
    data: dict = Field(description="the training data: its fingerprint and songs per split")


class Problem(BaseModel):
    """Every error answer: one line saying what is wrong."""

    detail: str = Field(description="the problem, in plain words; names the bad field or value")


class ProblemLocation(BaseModel):
    loc: list[str | int] = Field(description="where: body, field name, list index...")
    msg: str
    type: str


class InvalidRequest(Problem):
    """422: the request does not fit the schema; `detail` is the first problem, `errors` all of them."""

    errors: list[ProblemLocation] = []


# The error answers every route may give, for the OpenAPI schema.
ERROR_RESPONSES: dict[int | str, dict] = {
    400: {"model": Problem, "description": "an unreadable MIDI file or body"},
    415: {"model": Problem, "description": "a file of the wrong kind (a MIDI file where a recording is wanted)"},
    408: {"model": Problem, "description": "the request body arrived too slowly"},
    413: {"model": Problem, "description": "the request body or file is over its size limit"},
    422: {"model": InvalidRequest, "description": "a value out of range, or a request that cannot be extended"},
    503: {"model": Problem, "description": "the server is too busy; try again after Retry-After seconds"},
}


class Health(BaseModel):
    status: str
    model: str
