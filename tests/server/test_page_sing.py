"""Singing into the page: Chromium's fake microphone plays a sung phrase made in code (singing.py),
the page records it through Web Audio, keeps it (the take in localStorage, the WAV in IndexedDB),
the server hears it as notes (/api/transcribe) and continues them; the notes can be edited in the
roll, and Play plays the voice with Segue's continuation after it.

The fake microphone plays its file from the start when the page opens it (at the Sing click), and
loops it: the file is silence through the count-in, then the phrase, then silence to past the
recording window."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile

from pages import launch, open_page, roll, screenshot, stop_playing, wait_idle
from singing import MELODY, sung

RATE = 22050
RECORD_SECONDS = 6
LEAD = 3.6      # seconds of silence before the phrase: the 3 s count-in, and some
FILE_SECONDS = 10.5  # past the count-in and the recording window, so the loop never comes round in it
CENTS = -40


@pytest.fixture(scope="module")
def sung_file(tmp_path_factory):
    phrase, rate = soundfile.read(io.BytesIO(sung(MELODY, rate=RATE, cents=CENTS)))
    assert rate == RATE
    audio = np.zeros(int(FILE_SECONDS * RATE))
    audio[int(LEAD * RATE):int(LEAD * RATE) + len(phrase)] = phrase
    path = tmp_path_factory.mktemp("microphone") / "sung.wav"
    soundfile.write(path, audio, RATE, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def singing_browser(playwright_driver, sung_file):
    browser = launch(playwright_driver, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                     f"--use-file-for-fake-audio-capture={sung_file}")
    yield browser
    browser.close()


@pytest.fixture
def singer(singing_browser, server_url):
    with open_page(singing_browser, server_url, every_console_error=True) as page:
        page.evaluate("import('/static/app.js').then((app) => { window.segueRoll = app.roll; })")
        yield page


def takes(page):
    return page.evaluate("JSON.parse(localStorage.getItem('segue.takes.v1') || '[]')")


def stored_recording(page, recording_id):
    """The WAV kept in IndexedDB for a take, as (samples, rate), or None."""
    data = page.evaluate("""async (id) => {
        const { loadRecording } = await import('/static/recordings.js');
        const wav = await loadRecording(id);
        return wav ? Array.from(new Uint8Array(await wav.arrayBuffer())) : null;
    }""", recording_id)
    if data is None:
        return None
    info = soundfile.info(io.BytesIO(bytes(data)))
    assert (info.format, info.subtype, info.channels) == ("WAV", "PCM_16", 1)
    return soundfile.read(io.BytesIO(bytes(data)))


def note_centre(page, index):
    box = page.evaluate("(i) => window.segueRoll.noteBox(i)", index)
    canvas = page.locator("#roll").bounding_box()
    return canvas["x"] + box["x"] + box["width"] / 2, canvas["y"] + box["y"] + box["height"] / 2, box["height"] + 1


def sing(page, seconds=RECORD_SECONDS):
    page.fill("#record-seconds", str(seconds))
    page.click("#sing")
    page.wait_for_function("() => document.body.dataset.state === 'countdown'")
    assert page.inner_text("#sing") == "✕ Cancel" and page.is_disabled("#record")
    page.wait_for_function("() => document.body.dataset.state === 'recording'", timeout=10_000)
    assert page.inner_text("#sing") == "■ Stop singing" and page.is_visible("#level")


def test_a_sung_phrase_is_heard_continued_edited_and_played_with_the_voice(singer):
    page = singer
    sing(page)
    # The meter follows the voice, and the pitch heard is drawn in the roll as it is sung.
    page.wait_for_function("() => document.getElementById('level').value > 0.5", timeout=8000)
    page.wait_for_function("() => Number(document.getElementById('roll').dataset.trace) > 40", timeout=8000)
    trace = page.evaluate("window.segueRoll.trace.filter((p) => p.pitch !== null).map((p) => p.pitch)")
    screenshot(page, "singing")
    near = [min(abs(p - (m + CENTS / 100)) for m in MELODY) for p in trace]
    assert np.mean(np.array(near) < 0.75) > 0.8, trace  # within vibrato of a sung note

    page.wait_for_function("() => document.body.dataset.state === 'playing'", timeout=40_000)
    assert page.is_hidden("#level")
    [take] = takes(page)
    assert take["source"] == "voice" and take["audio"] == take["id"]
    # Every note of the melody, in order; the browser's capture (resampled, in 45 ms blocks) may
    # now and then split one note in two, which the player can delete.
    heard = [n["pitch"] for n in take["input"]]
    assert [p for i, p in enumerate(heard) if i == 0 or p != heard[i - 1]] == MELODY, take["input"]
    assert take["inputSeconds"] == pytest.approx(RECORD_SECONDS, abs=0.05)
    assert roll(page, "input") == len(heard) and roll(page, "continuation") > 0
    assert page.is_visible("#play-voice-toggle") and page.is_checked("#play-voice")
    stop_playing(page)
    wait_idle(page)

    # Edit the transcribed notes: click one and delete it; drag another two semitones up.
    x, y, _ = note_centre(page, 2)
    page.mouse.click(x, y)
    assert page.get_attribute("#roll", "data-selected") == "2"
    page.keyboard.press("Delete")
    assert roll(page, "input") == len(heard) - 1
    # The recording no longer sings the edited phrase: Play now plays the notes, until asked otherwise.
    assert not page.is_checked("#play-voice") and "edited notes" in page.inner_text("#phrase-status")
    x, y, row = note_centre(page, 0)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y - 2 * row, steps=6)
    page.mouse.up()
    assert page.get_attribute("#roll", "data-selected") == "0"
    page.keyboard.press("ArrowRight")  # the keys edit too: the next note, a semitone down
    page.keyboard.press("ArrowDown")
    edited = heard[:2] + heard[3:]
    edited[0] += 2
    edited[1] -= 1
    screenshot(page, "sung-take-edited")
    [take] = takes(page)
    assert [n["pitch"] for n in take["input"]] == edited and take["edited"]
    assert "Extend" in page.inner_text("#phrase-status")

    # Extend continues the edited phrase, a new take with the same recording.
    page.click("#extend")
    page.wait_for_function("() => document.body.dataset.state === 'playing'", timeout=20_000)
    stop_playing(page)
    newest, first = takes(page)
    assert [n["pitch"] for n in newest["input"]] == edited and newest["extensions"]
    assert newest["audio"] == first["audio"] == first["id"] and newest["tuningCents"] == first["tuningCents"]

    # All of it survives a reload, the recording in IndexedDB.
    page.reload()
    page.wait_for_function("() => document.getElementById('model-status').textContent.includes('ready')")
    assert page.locator("#history li").count() == 2 and roll(page, "input") == len(edited)
    samples, rate = stored_recording(page, first["id"])
    assert rate in (22050, 24000) and len(samples) / rate == pytest.approx(RECORD_SECONDS, abs=0.01)
    loud = np.abs(samples) > 0.05
    assert 3.5 < (np.flatnonzero(loud)[-1] - np.flatnonzero(loud)[0]) / rate < 5  # the whole phrase, 4.5 s
    assert np.abs(samples).max() < 0.99

    # Play: the voice, with the continuation on the synth after it; or, the voice off, the notes.
    continuation = roll(page, "continuation")
    assert not page.is_checked("#play-voice")  # an edited take plays its notes unless asked
    page.check("#play-voice")
    page.wait_for_function("() => document.body.dataset.state === 'idle'", timeout=5000)
    page.click("#play")
    page.wait_for_function("() => document.body.dataset.state === 'playing'", timeout=5000)
    assert page.evaluate("document.body.dataset.voice") == "playing"
    assert int(page.evaluate("document.body.dataset.scheduled")) == continuation
    # ...tuned to the singer, who sang off A440.
    assert float(page.evaluate("document.body.dataset.cents")) == pytest.approx(CENTS, abs=12)
    stop_playing(page)
    page.uncheck("#play-voice")
    page.click("#play")
    page.wait_for_function("() => document.body.dataset.state === 'playing'", timeout=5000)
    assert not page.evaluate("document.body.dataset.voice")
    assert int(page.evaluate("document.body.dataset.scheduled")) == len(edited) + continuation
    assert float(page.evaluate("document.body.dataset.cents")) == 0  # the notes alone: at A440
    stop_playing(page)


def test_a_recording_the_server_refuses_is_kept_and_can_be_heard_again(singer):
    page = singer
    page.click("#sing")  # Escape cancels the count-in, and the microphone is let go
    page.wait_for_function("() => document.body.dataset.state === 'countdown'")
    page.wait_for_function("() => !document.getElementById('level-box').hidden")
    page.keyboard.press("Escape")
    wait_idle(page, timeout=2000)
    assert "cancelled" in page.inner_text("#phrase-status") and page.is_hidden("#level")
    assert page.locator("#history li").count() == 0

    page.route("**/api/transcribe", lambda route: route.fulfill(
        status=422, content_type="application/json", body='{"detail": "the recording is too quiet"}'))
    sing(page, seconds=20)
    page.wait_for_timeout(5000)
    page.click("#sing")  # "Stop singing": keep what was sung, and go on with it now
    page.wait_for_selector("#error:not([hidden])", timeout=20_000)
    assert page.inner_text("#error-text").startswith("The recording is too quiet.")
    # The server heard the recording and could not use it: sending it again will not help.
    assert "Press Sing to try again (the recording is kept in Takes)" in page.inner_text("#error-text")
    wait_idle(page)
    [take] = takes(page)
    assert take["source"] == "voice" and take["input"] == [] and not take["extensions"]
    assert 4.5 < take["inputSeconds"] < 6.5
    assert stored_recording(page, take["audio"]) is not None
    assert page.inner_text("#sing") == "♪ Sing" and page.is_enabled("#sing")

    page.unroute("**/api/transcribe")
    page.reload()
    page.wait_for_function("() => document.getElementById('model-status').textContent.includes('ready')")
    page.click("#history li:nth-child(1) .take")
    assert "press Extend" in page.inner_text("#phrase-status")
    page.click("#extend")  # the kept recording is sent again, heard, and continued
    page.wait_for_function("() => document.body.dataset.state === 'playing'", timeout=40_000)
    stop_playing(page)
    [take] = takes(page)
    assert len(take["input"]) >= 6 and take["extensions"]

    # Deleted, the take's recording stays while Undo can bring it back, and goes once it cannot.
    page.click("#history li:nth-child(1) .delete")
    assert stored_recording(page, take["audio"]) is not None
    page.click("#undo")
    assert takes(page)[0]["audio"] == take["audio"] and stored_recording(page, take["audio"]) is not None
    page.click("#history li:nth-child(1) .delete")
    for pitch in (60, 62, 64, 65, 67):  # a played take, then deleted: the sung one can no longer come back
        page.click(f".key[data-pitch='{pitch}']")
        page.wait_for_timeout(150)
    page.click("#extend")
    page.wait_for_function("() => document.body.dataset.state === 'playing'", timeout=20_000)
    stop_playing(page)
    page.click("#history li:nth-child(1) .delete")
    assert page.inner_text("#undo-text") == "Take #1 deleted."
    for _ in range(20):
        if stored_recording(page, take["audio"]) is None:
            break
        page.wait_for_timeout(100)
    assert stored_recording(page, take["audio"]) is None


def test_a_take_too_loud_is_warned_of_while_singing_and_refused_after(playwright_driver, server_url, tmp_path):
    phrase, _ = soundfile.read(io.BytesIO(sung(MELODY, rate=RATE)))
    audio = np.zeros(int(FILE_SECONDS * RATE))
    audio[int(LEAD * RATE):int(LEAD * RATE) + len(phrase)] = np.clip(20 * phrase, -1, 1)  # input level far too high
    soundfile.write(tmp_path / "loud.wav", audio, RATE, subtype="PCM_16")
    browser = launch(playwright_driver, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                     f"--use-file-for-fake-audio-capture={tmp_path / 'loud.wav'}")
    try:
        with open_page(browser, server_url) as page:
            sing(page)
            page.wait_for_selector("#too-loud:not([hidden])", timeout=8000)
            page.wait_for_selector("#error:not([hidden])", timeout=20_000)
            assert "clipped" in page.inner_text("#error-text") and "Press Sing to try again" in page.inner_text("#error-text")
            wait_idle(page)
            assert page.is_hidden("#too-loud")
    finally:
        browser.close()


def test_no_microphone_is_said_in_plain_words(page):
    """The page fixture's browser has no microphone at all."""
    page.click("#sing")
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error-text").startswith("No microphone was found.")
    wait_idle(page)
    assert page.is_hidden("#level") and page.inner_text("#sing") == "♪ Sing"
    assert page.locator("#history li").count() == 0


def test_a_refused_microphone_is_said_in_plain_words(playwright_driver, server_url):
    browser = launch(playwright_driver, "--use-fake-device-for-media-stream")  # a microphone, but no one says yes
    try:
        with open_page(browser, server_url, every_console_error=True) as page:
            page.click("#sing")
            page.wait_for_selector("#error:not([hidden])")
            assert "not allowed to use the microphone" in page.inner_text("#error-text")
            wait_idle(page)
            page.click("#record")  # the page goes on working
            page.wait_for_function("() => document.body.dataset.state === 'countdown'")
            page.keyboard.press("Escape")
            wait_idle(page)
    finally:
        browser.close()
