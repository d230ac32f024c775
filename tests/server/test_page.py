"""The page in a real browser: Debian's Chromium driven by Playwright against a real `segue serve`
on 127.0.0.1 with the shipped model. Screenshots go to out/screenshots/.

Without Chromium these tests are skipped on a developer's machine, but under CI (CI=true) they
fail instead: there they must run."""

from __future__ import annotations

import io
import wave

import mido
import numpy as np

from segue.midi_io import midi_bytes

from conftest import played
from pages import SCREENSHOTS, WHITE_KEYS, download, roll, screenshot, stop_playing, type_notes, wait_idle


def test_keys_sound_and_light_with_mouse_and_computer_keyboard(page):
    key = page.locator(".key[data-pitch='60']")
    box = key.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.8)
    page.mouse.down()
    assert "down" in key.get_attribute("class")
    page.mouse.up()
    assert "down" not in key.get_attribute("class")
    assert page.locator("#events li").first.inner_text().startswith("C4")

    page.keyboard.down("KeyD")  # E above the A key's C
    assert "down" in page.locator(".key[data-pitch='64']").get_attribute("class")
    page.keyboard.up("KeyD")
    assert page.locator("#events li").first.inner_text().startswith("E4")
    page.keyboard.press("KeyZ")  # an octave down
    assert page.inner_text("#octave-label") == "C3"
    page.keyboard.press("KeyA")
    assert page.locator("#events li").first.inner_text().startswith("C3")
    screenshot(page, "keys")


def test_record_extend_play_and_download(page):
    page.click("#record")
    page.wait_for_function("() => document.body.dataset.state === 'countdown'")
    page.wait_for_function("() => /^[1-3]$/.test(document.getElementById('countdown').textContent)")
    page.wait_for_function("() => document.body.dataset.state === 'recording'", timeout=5000)
    type_notes(page, WHITE_KEYS[:5] + "d" + "s" + "a")
    page.wait_for_timeout(200)
    page.wait_for_function("() => Number(document.getElementById('progress-bar').getAttribute('aria-valuenow')) > 0")
    screenshot(page, "recording")
    page.wait_for_function("() => document.body.dataset.state === 'playing'", timeout=15_000)
    assert roll(page, "input") == 8 and roll(page, "continuation") > 0
    assert int(page.evaluate("document.body.dataset.scheduled")) == roll(page, "continuation")
    page.wait_for_function("() => Number(document.getElementById('roll').dataset.playhead) > 5.5")
    screenshot(page, "playing")
    wait_idle(page)
    assert page.locator("#history li").count() == 1

    continuation, name = download(page, "#download")
    assert name.endswith("-continuation.mid")
    assert abs(continuation.length - 5.0) < 0.01 and len(continuation.notes) == roll(page, "continuation")
    joined, _ = download(page, "#download-all")
    assert abs(joined.length - 10.0) < 0.01
    assert [n.pitch for n in joined.notes[:8]] == [60, 62, 64, 65, 67, 64, 62, 60]

    page.click("#play")  # the phrase, then the continuation, from the start
    page.wait_for_function("() => document.body.dataset.state === 'playing'")
    assert int(page.evaluate("document.body.dataset.scheduled")) == 8 + roll(page, "continuation")
    stop_playing(page)
    wait_idle(page)


def test_free_play_variations_extend_again_and_history_survive_a_reload(page):
    page.fill("#variations", "3")
    page.fill("#seed", "42")
    for pitch in (67, 69, 71, 72, 71, 69, 67):
        page.click(f".key[data-pitch='{pitch}']")
        page.wait_for_timeout(150)
    page.click("#extend")
    page.wait_for_function("() => document.getElementById('variation-picker').children.length === 3", timeout=15_000)
    assert roll(page, "input") == 7
    page.click("#variation-picker button:nth-child(2)")
    assert page.get_attribute("#variation-picker button:nth-child(2)", "aria-pressed") == "true"
    second = roll(page, "continuation")
    stop_playing(page)

    page.click("#extend-again")
    page.wait_for_function(f"() => Number(document.getElementById('roll').dataset.inputNotes) === {7 + second}",
                           timeout=15_000)
    stop_playing(page)
    screenshot(page, "extend-again")
    assert page.locator("#history li").count() == 2

    page.reload()
    page.wait_for_function("() => document.getElementById('model-status').textContent.includes('ready')")
    assert page.locator("#history li").count() == 2
    assert roll(page, "input") == 7 + second and roll(page, "continuation") > 0
    page.click("#history li:nth-child(2)")
    assert roll(page, "input") == 7 and roll(page, "continuation") == second


def test_a_failed_continuation_keeps_the_take_through_a_reload(page):
    page.route("**/api/extend", lambda route: route.fulfill(
        status=503, content_type="application/json", body='{"detail": "the server is too busy"}'))
    for pitch in (60, 64, 67, 72):
        page.click(f".key[data-pitch='{pitch}']")
        page.wait_for_timeout(150)
    page.click("#extend")
    page.wait_for_function("() => document.body.textContent.includes('Your phrase is kept in Takes')")
    assert page.locator("#history li").count() == 1 and roll(page, "input") == 4
    page.unroute("**/api/extend")
    page.reload()
    page.wait_for_function("() => document.getElementById('model-status').textContent.includes('ready')")
    assert page.locator("#history li").count() == 1
    page.click("#history li:nth-child(1)")
    assert roll(page, "input") == 4 and roll(page, "continuation") == 0


def test_upload_a_midi_file(page, tmp_path):
    path = tmp_path / "phrase.mid"
    path.write_bytes(midi_bytes(played([62, 66, 69, 74, 73, 71, 69, 66]), 4.0))
    page.set_input_files("#upload", str(path))
    page.wait_for_function("() => document.body.dataset.state === 'playing'", timeout=15_000)
    assert roll(page, "input") == 8 and roll(page, "continuation") > 0
    stop_playing(page)


def test_another_track_of_an_opened_file_can_be_the_melody(page, tmp_path):
    """A two-track file: the melody part is read first, and the track menu reads the other."""
    tune, bass = played([72, 74, 76, 77, 79, 77]), played([48, 43, 45, 41, 43])
    first, second = (mido.MidiFile(file=io.BytesIO(midi_bytes(notes, 3.0))) for notes in (tune, bass))
    midi = mido.MidiFile(type=1, ticks_per_beat=first.ticks_per_beat, tracks=[first.tracks[0], second.tracks[0]])
    path = tmp_path / "two-tracks.mid"
    midi.save(path)
    assert page.locator("#track-choice").is_hidden()
    page.set_input_files("#upload", str(path))
    page.wait_for_function("() => document.body.dataset.state === 'playing'", timeout=15_000)
    stop_playing(page)
    assert page.locator("#track-choice").is_visible() and page.input_value("#track") == "1"
    assert roll(page, "input") == 6
    page.select_option("#track", "2")
    page.wait_for_function("() => document.body.dataset.state === 'playing'", timeout=15_000)
    stop_playing(page)
    assert page.input_value("#track") == "2" and roll(page, "input") == 5  # the bass line now
    assert "track 2" in page.inner_text("#history li:nth-child(1)")


def test_errors_are_shown_in_plain_words(page, tmp_path):
    page.click("#extend")
    assert "Play something first" in page.inner_text("#error-text")
    page.click("#error-close")
    assert page.locator("#error").is_hidden()

    path = tmp_path / "notes.mid"
    path.write_text("these are not notes")
    page.set_input_files("#upload", str(path))
    page.wait_for_selector("#error:not([hidden])")
    assert "is not a MIDI file" in page.inner_text("#error-text")
    screenshot(page, "error")


def test_web_midi_keyboard_hot_plug_and_output(page):
    inputs = lambda: page.eval_on_selector_all("#midi-in option", "options => options.map(o => o.textContent)")
    page.wait_for_function("() => document.querySelectorAll('#midi-in option').length === 2")
    assert inputs() == ["any keyboard", "Test Keyboard"]
    page.evaluate("fakeMidi.play('keys-1', [0x90, 62, 100])")
    assert "down" in page.locator(".key[data-pitch='62']").get_attribute("class")
    assert page.locator("#events li").first.inner_text().startswith("D4 vel 100")
    page.evaluate("fakeMidi.play('keys-1', [0x80, 62, 0])")
    assert "down" not in page.locator(".key[data-pitch='62']").get_attribute("class")
    page.evaluate("fakeMidi.play('keys-1', [0x99, 36, 100])")  # the drum channel is not melody
    assert page.locator("#events li").first.inner_text().startswith("D4")

    page.evaluate("fakeMidi.plugInput('keys-2', 'Second Keyboard')")
    page.wait_for_function("() => document.querySelectorAll('#midi-in option').length === 3")
    page.select_option("#midi-in", "keys-2")
    page.evaluate("fakeMidi.play('keys-1', [0x90, 64, 90])")  # not the chosen device: ignored
    assert "down" not in page.locator(".key[data-pitch='64']").get_attribute("class")
    page.evaluate("fakeMidi.play('keys-2', [0x90, 65, 90])")
    assert "down" in page.locator(".key[data-pitch='65']").get_attribute("class")
    page.evaluate("fakeMidi.unplugInput('keys-2')")
    page.wait_for_function("() => document.querySelectorAll('#midi-in option').length === 2")

    page.evaluate("fakeMidi.plugOutput('synth-1', 'Test Synth')")
    page.wait_for_function("() => document.querySelectorAll('#midi-out option').length === 2")
    page.select_option("#midi-out", "synth-1")
    page.click(".key[data-pitch='60']")
    sent = page.evaluate("fakeMidi.sent.filter(m => m.data)")
    assert [m["data"] for m in sent[-2:]] == [[0x90, 60, sent[-2]["data"][2]], [0x80, 60, 0]]

    for key in "asdfg":
        page.keyboard.press(f"Key{key.upper()}")
    page.evaluate("fakeMidi.sent.length = 0")
    page.click("#extend")
    page.wait_for_function("() => document.body.dataset.state === 'playing'", timeout=15_000)
    played = page.evaluate("fakeMidi.sent")
    ons = [m for m in played if m.get("data", [0])[0] == 0x90]
    assert len(ons) == roll(page, "continuation")
    assert all(m["late"] >= 0 for m in ons) and max(m["late"] for m in ons) > 1000  # timed, not all at once
    stop_playing(page)
    assert page.evaluate("fakeMidi.sent.slice(-1)[0].data") == [0xB0, 123, 0]  # all notes off


def test_the_instrument_renders_a_clean_tone(page):
    """Render A4 through the page's synth offline, save it as a WAV, and check pitch and level."""
    rate = 44100
    samples = page.evaluate("""async (rate) => {
        const { Synth } = await import("/static/synth.js");
        const context = new OfflineAudioContext(1, rate * 2.5, rate);
        new Synth(context).schedule([{ pitch: 69, start: 0.1, end: 1.0, velocity: 100 }], 0);
        return Array.from((await context.startRendering()).getChannelData(0));
    }""", rate)
    audio = np.array(samples, dtype=np.float32)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with wave.open(str(SCREENSHOTS / "instrument-a4.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())

    def rms(start, end):
        return float(np.sqrt(np.mean(audio[int(start * rate):int(end * rate)] ** 2)))

    held = audio[int(0.2 * rate):int(0.9 * rate)]
    spectrum = np.abs(np.fft.rfft(held * np.hanning(len(held))))
    peak_hz = np.argmax(spectrum) * rate / len(held)
    assert abs(peak_hz - 440) < 5
    assert np.abs(audio).max() < 1.0  # no clipping
    assert rms(0.0, 0.09) < 1e-4  # silent before the note
    assert rms(0.2, 0.9) > 0.01
    assert rms(2.0, 2.5) < rms(0.2, 0.9) / 20  # released, and the room dies away
