"""The page as a musician's instrument (issue 15): each defect found by playing it as a new user,
reproduced and checked fixed; duet mode, live drawing, tempo and bars in downloads, keyboard-only
use, an axe-core accessibility run and a phone-size run with touch. Screenshots of desktop and
phone go to out/screenshots/ (docs/screenshots/ holds copies)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import mido
import pytest

from conftest import played
from pages import FAKE_WEB_MIDI, SCREENSHOTS, roll, screenshot, stop_playing, type_notes, wait_idle
from segue.midi_io import Meter, midi_bytes

AXE = Path(__file__).with_name("vendor") / "axe-4.14.1.min.js"


def settle(page, state="playing", timeout=20_000):
    page.wait_for_function(f"() => document.body.dataset.state === '{state}'", timeout=timeout)


def free_take(page, keys="asdfg"):
    """A continued take from free play, left idle."""
    page.evaluate("document.activeElement.blur()")  # a text box would take the letters, as it should
    type_notes(page, keys, spacing_ms=250, held_ms=180)
    page.click("#extend")
    settle(page)
    stop_playing(page)
    wait_idle(page)


def short_recording(page, seconds="2"):
    page.fill("#record-seconds", seconds)
    page.click("#record")
    settle(page, "recording", timeout=6000)


def test_space_during_a_recording_neither_plays_nor_loses_notes(page):
    free_take(page)
    short_recording(page, "2.5")
    type_notes(page, "as", spacing_ms=250, held_ms=150)
    page.keyboard.press("Space")
    assert page.evaluate("document.body.dataset.state") == "recording"
    type_notes(page, "dfg", spacing_ms=250, held_ms=150)
    settle(page)
    assert roll(page, "input") == 5  # every note, those after Space too


@pytest.mark.parametrize("focus", ["select", "slider", "number", "checkbox"])
def test_a_focused_control_does_not_swallow_the_keys(page, focus):
    if focus == "select":
        page.select_option("#key", "D major")
        page.focus("#key")
    else:
        page.focus({"slider": "#temperature", "number": "#variations", "checkbox": "#duet"}[focus])
    page.keyboard.press("KeyA")
    assert page.locator("#events li").first.inner_text().startswith("C4")
    assert page.input_value("#key") == ("D major" if focus == "select" else "")
    assert page.input_value("#variations") == "1" and page.input_value("#temperature") == "1"


def test_a_count_in_or_a_recording_can_be_cancelled_or_stopped_early(page):
    page.click("#record")
    settle(page, "countdown")
    assert page.inner_text("#record") == "✕ Cancel"
    page.click("#record")
    wait_idle(page, timeout=2000)
    assert "cancelled" in page.inner_text("#phrase-status")

    short_recording(page, "5")
    type_notes(page, "ad", spacing_ms=200, held_ms=150)
    page.keyboard.press("Escape")
    wait_idle(page, timeout=2000)
    assert page.locator("#history li").count() == 0

    short_recording(page, "20")
    type_notes(page, "adg", spacing_ms=200, held_ms=150)
    page.click("#record")  # "Stop recording": keep what was played and continue it now
    settle(page)
    takes = page.evaluate("JSON.parse(localStorage.getItem('segue.takes.v1'))")
    assert len(takes) == 1 and len(takes[0]["input"]) == 3 and takes[0]["inputSeconds"] < 10


def test_free_play_is_shown_a_pause_starts_a_new_phrase_and_playing_along_is_not_collected(page):
    page.clock.install()
    type_notes(page, "as", spacing_ms=200, held_ms=150)
    assert page.get_attribute("#roll", "data-live") == "free" and roll(page, "input") == 2
    assert "Free play: 2 notes" in page.inner_text("#phrase-status")
    page.clock.fast_forward(6000)  # a long pause: the next notes are a new phrase
    type_notes(page, "gha", spacing_ms=200, held_ms=150)
    assert roll(page, "input") == 3 and "Free play: 3 notes" in page.inner_text("#phrase-status")
    page.clock.resume()
    page.click("#extend")
    settle(page)
    takes = page.evaluate("JSON.parse(localStorage.getItem('segue.takes.v1'))")
    assert [n["pitch"] for n in takes[0]["input"]] == [67, 69, 60]
    assert takes[0]["inputSeconds"] < 1.5  # no silence before the phrase

    type_notes(page, "jk", spacing_ms=150, held_ms=100)  # along with the playback: not a new phrase
    stop_playing(page)
    assert page.inner_text("#phrase-status") == ""
    page.click("#extend")  # nothing new: more ideas for the phrase on screen
    settle(page)
    assert roll(page, "input") == 3


def test_notes_are_drawn_while_recording_with_the_window_marked(page):
    short_recording(page, "3")
    type_notes(page, "asd", spacing_ms=250, held_ms=200)
    assert page.get_attribute("#roll", "data-live") == "recording" and roll(page, "input") == 3
    assert page.inner_text("#countdown") == "Recording…"
    assert page.inner_text("#record") == "■ Stop recording"
    screenshot(page, "recording-live")
    settle(page)


def test_clear_removes_the_variations_with_the_take(page):
    page.fill("#variations", "3")
    free_take(page)
    assert page.locator("#variation-picker button").count() == 3
    page.click("#clear")
    assert page.locator("#variation-picker button").count() == 0 and roll(page, "input") == 0
    assert page.is_disabled("#play") and page.is_disabled("#download")


def test_play_is_a_toggle_and_space_after_a_click_stops(page):
    free_take(page)
    page.click("#play")
    settle(page)
    assert page.inner_text("#play") == "■ Stop"
    page.keyboard.press("Space")  # focus is still on the Play button
    wait_idle(page, timeout=2000)
    page.keyboard.press("Space")
    settle(page)
    page.click("#play")
    wait_idle(page, timeout=2000)
    page.click("#roll")  # focus away from any control: Space plays and stops
    page.keyboard.press("Space")
    settle(page)
    page.keyboard.press("Space")
    wait_idle(page, timeout=2000)


def test_a_failed_extend_again_keeps_the_last_continuation_on_screen(page):
    free_take(page)
    shown = roll(page, "continuation")
    page.route("**/api/extend", lambda route: route.fulfill(status=503, content_type="application/json",
                                                             body='{"detail": "the server is too busy"}'))
    for _ in range(2):
        page.click("#extend-again")
        page.wait_for_selector("#error:not([hidden])")
        assert page.inner_text("#error-text") == "The server is too busy."
        assert roll(page, "input") == 5 and roll(page, "continuation") == shown
        assert page.is_enabled("#download") and page.is_enabled("#extend-again")
        page.click("#error-close")
    assert page.locator("#history li").count() == 1


@pytest.mark.parametrize("field, value, words", [
    ("#seed", "-1", "Seed must be empty (random) or a whole number from 0 to 9007199254740991."),
    ("#seed", "1.5", "Seed must be"),
    ("#seed", "99999999999999999999", "Seed must be"),
    ("#variations", "40", "Variations must be a whole number from 1 to 32."),
    ("#seconds", "100", "Continue (s) must be a number from 1 to 60."),
])
def test_settings_are_checked_on_the_page_against_the_servers_limits(page, field, value, words):
    sent = []
    page.on("request", lambda request: "/api/extend" in request.url and sent.append(request))
    type_notes(page, "asd", spacing_ms=200, held_ms=150)
    page.fill(field, value)
    page.click("#extend")
    assert words in page.inner_text("#settings-error")
    assert page.evaluate("document.body.dataset.state") == "idle"
    assert page.get_attribute(field, "aria-invalid") == "true" and not sent
    assert page.get_attribute("#variations", "max") == "32"  # read from /api/model


def test_a_large_seed_and_a_random_one_survive_exactly(page):
    page.fill("#seed", "9007199254740991")
    free_take(page)
    assert page.evaluate("JSON.parse(localStorage.getItem('segue.takes.v1'))[0].seed") == 9007199254740991
    page.fill("#seed", "")
    page.click("#extend")
    settle(page)
    seed = page.evaluate("JSON.parse(localStorage.getItem('segue.takes.v1'))[0].seed")
    assert 0 <= seed < 2**53 and f"seed {seed})" in page.inner_text("#model-status")


def test_a_recorded_continuation_starts_on_the_phrases_pulse(page):
    page.fill("#variations", "4")
    page.select_option("#key", "auto")  # the slowest answers: they still start on a beat
    short_recording(page, "2")
    type_notes(page, "asdfg", spacing_ms=300, held_ms=200)
    settle(page)
    timing = page.evaluate("({...document.body.dataset})")
    beats = (float(timing["startedAt"]) - float(timing["phraseEnd"])) / float(timing["pulse"])
    assert beats == pytest.approx(round(beats), abs=1e-6) and int(timing["startBeats"]) == round(beats) >= 0


def test_extend_again_keeps_who_played_what(page):
    free_take(page)
    first = roll(page, "continuation")
    page.click("#extend-again")
    settle(page)
    assert roll(page, "input") == 5 + first
    assert f"with {first} notes Segue wrote before" in page.get_attribute("#roll", "aria-label")
    take = page.evaluate("JSON.parse(localStorage.getItem('segue.takes.v1'))[0]")
    assert [n.get("by") for n in take["input"]] == [None] * 5 + ["segue"] * first


def test_a_take_comes_back_with_its_settings_and_a_deleted_one_can_be_undone(page):
    page.fill("#seed", "7")
    page.eval_on_selector("#temperature", "e => { e.value = '0'; e.dispatchEvent(new Event('input')); }")
    free_take(page)
    assert "T 0.0 · seed 7 · key off" in page.inner_text("#history li:nth-child(1)")
    page.eval_on_selector("#temperature", "e => { e.value = '1.5'; e.dispatchEvent(new Event('input')); }")
    page.fill("#seed", "")
    page.click("#clear")
    page.click("#history li:nth-child(1) .take")
    assert page.input_value("#temperature") == "0" and page.input_value("#seed") == "7"
    assert roll(page, "input") == 5

    page.click("#history li:nth-child(1) .delete")
    assert page.locator("#history li").count() == 0 and roll(page, "input") == 0
    assert page.inner_text("#undo-text") == "Take #1 deleted."
    page.click("#undo")
    assert page.locator("#history li").count() == 1 and roll(page, "input") == 5
    page.reload()
    page.wait_for_function("() => document.getElementById('model-status').textContent.includes('ready')")
    assert page.locator("#history li").count() == 1


def test_note_edits_are_taken_back_by_the_undo_bar_and_ctrl_z(page):
    free_take(page)
    def pitches():
        return [n["pitch"] for n in json.loads(page.evaluate("localStorage.getItem('segue.takes.v1')"))[0]["input"]]
    played_pitches = pitches()
    page.focus("#roll")
    page.keyboard.press("ArrowRight")  # the first note, a semitone up
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowRight")  # the second note, removed
    page.keyboard.press("Delete")
    assert pitches() == [played_pitches[0] + 1, *played_pitches[2:]]
    assert page.inner_text("#undo-text").endswith(" removed.") and page.is_visible("#undo")
    page.click("#undo")  # the bar takes back the last edit
    assert pitches() == [played_pitches[0] + 1, *played_pitches[1:]] and page.is_hidden("#undo-bar")
    page.focus("#roll")
    page.keyboard.press("Control+z")  # and Ctrl+Z the one before
    assert pitches() == played_pitches and roll(page, "input") == len(played_pitches)
    assert page.inner_text("#phrase-status") == "Edit undone: the notes are as you played them."
    page.keyboard.press("Control+z")  # nothing left to take back
    assert pitches() == played_pitches
    take = json.loads(page.evaluate("localStorage.getItem('segue.takes.v1')"))[0]
    assert not take.get("edited")


def meta(midi, kind):
    return [m for track in midi.tracks for m in track if m.type == kind]


def test_downloads_carry_the_tempo_and_bars_and_readable_names(page, tmp_path):
    page.check("#metronome")
    page.fill("#bpm", "90")
    page.check("#quantize")
    short_recording(page, "2")
    type_notes(page, "asdf", spacing_ms=333, held_ms=250)
    settle(page)
    stop_playing(page)
    with page.expect_download() as info:
        page.click("#download")
    assert re.fullmatch(r"segue-\d{4}-\d{2}-\d{2}-\d{4}-continuation\.mid", info.value.suggested_filename)
    midi = mido.MidiFile(info.value.path())
    assert [m.tempo for m in meta(midi, "set_tempo")] == [Meter(90).tempo]
    assert [(m.numerator, m.denominator) for m in meta(midi, "time_signature")] == [(4, 4)]
    sixteenth = midi.ticks_per_beat // 4
    ticks = 0
    for message in midi.tracks[0]:
        ticks += message.time
        if message.type == "note_on":
            assert ticks % sixteenth == 0  # snapped to the grid

    path = tmp_path / "jig.mid"  # a 6/8 tune at 150 bpm comes back in its own meter
    path.write_bytes(midi_bytes(played([67, 69, 71, 72, 74, 72, 71, 69], spacing=0.2), 2.0, Meter(150, 6, 8)))
    page.uncheck("#quantize")
    page.set_input_files("#upload", str(path))
    settle(page)
    assert page.inner_text("#tempo") == "≈ 150 bpm"
    with page.expect_download() as info:
        page.click("#download-all")
    midi = mido.MidiFile(info.value.path())
    assert [m.tempo for m in meta(midi, "set_tempo")] == [Meter(150).tempo]
    assert [(m.numerator, m.denominator) for m in meta(midi, "time_signature")] == [(6, 8)]


def test_upload_errors_and_missing_midi_access_are_said_in_plain_words(browser, server_url, tmp_path):
    context = browser.new_context()
    context.add_init_script("Object.defineProperty(navigator, 'requestMIDIAccess', { value: async () => { "
                            "throw new DOMException('Permission denied', 'SecurityError'); }, configurable: true });")
    page = context.new_page()
    page.goto(server_url)
    page.wait_for_function("() => document.getElementById('model-status').textContent.includes('ready')")
    assert "MIDI devices are not available: Permission denied. The on-screen and computer keys still play." \
        == page.inner_text("#midi-status")
    path = tmp_path / "notes.mid"
    path.write_text("these are not notes")
    page.set_input_files("#upload", str(path))
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error-text") == ("Could not open notes.mid: The file is not a MIDI file: choose one "
                                             "saved as a Standard MIDI File (.mid or .midi).")
    context.close()


def test_duet_mode_answers_a_pause_without_a_button(page):
    page.check("#duet")
    type_notes(page, "asdfg", spacing_ms=220, held_ms=170)
    settle(page)  # the pause was enough
    assert roll(page, "continuation") > 0
    assert page.evaluate("JSON.parse(localStorage.getItem('segue.takes.v1'))[0].source") == "duet"
    type_notes(page, "gfd", spacing_ms=220, held_ms=170)  # over the answer: the next phrase
    assert page.get_attribute("#roll", "data-live") == "free"
    page.wait_for_function("() => JSON.parse(localStorage.getItem('segue.takes.v1')).length === 2", timeout=20_000)


def test_a_dropped_midi_file_is_opened(page):
    data = list(midi_bytes(played([62, 66, 69, 74, 73, 71, 69, 66]), 4.0))
    transfer = page.evaluate_handle("""(bytes) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(bytes)], "dropped.mid", { type: "audio/midi" }));
        return transfer;
    }""", data)
    page.dispatch_event("body", "dragover", {"dataTransfer": transfer})
    page.dispatch_event("body", "drop", {"dataTransfer": transfer})
    settle(page)
    assert roll(page, "input") == 8
    assert page.evaluate("JSON.parse(localStorage.getItem('segue.takes.v1'))[0].source") == "dropped.mid"


def test_every_control_works_from_the_keyboard_alone(page):
    order = []
    for _ in range(40):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id || document.activeElement.className"))
    for control in ("record", "extend", "duet", "piano", "temperature", "seed", "key", "open-file"):
        assert control in order, f"{control} is not reachable with Tab: {order}"
    page.focus("#piano")
    type_notes(page, "asdf", spacing_ms=220, held_ms=170)
    page.focus("#extend")
    page.keyboard.press("Enter")
    settle(page)
    page.keyboard.press("Escape")
    wait_idle(page)
    page.focus("#history li:nth-child(1) .take")
    page.keyboard.press("Enter")
    assert roll(page, "input") == 4
    page.focus("#history li:nth-child(1) .delete")
    page.keyboard.press("Space")
    assert page.locator("#history li").count() == 0


def test_no_serious_accessibility_violations(browser, server_url):
    context = browser.new_context(bypass_csp=True)  # axe is injected by the test, never by the page
    context.add_init_script(FAKE_WEB_MIDI)
    page = context.new_page()
    page.goto(server_url)
    page.wait_for_function("() => document.getElementById('model-status').textContent.includes('ready')")
    type_notes(page, "asdfg", spacing_ms=200, held_ms=150)
    page.fill("#variations", "2")
    page.click("#extend")
    settle(page)
    stop_playing(page)
    page.add_script_tag(path=str(AXE))
    results = page.evaluate("axe.run(document, { resultTypes: ['violations'] })")
    serious = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in results["violations"]
               if v["impact"] in ("serious", "critical")]
    assert not serious, json.dumps(serious, indent=1)
    context.close()


def test_a_phone_plays_records_and_extends_by_touch(browser, server_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True,
                                  device_scale_factor=2)
    context.add_init_script(FAKE_WEB_MIDI)
    page = context.new_page()
    page.goto(server_url)
    page.wait_for_function("() => document.getElementById('model-status').textContent.includes('ready')")
    whites = page.eval_on_selector_all(".key.white", "keys => keys.map(k => k.getBoundingClientRect().width)")
    blacks = page.eval_on_selector_all(".key.black", "keys => keys.map(k => k.getBoundingClientRect().width)")
    assert min(whites) >= 44 and min(blacks) >= 24
    for button in ("#record", "#extend", "#play", "#open-file"):
        assert page.locator(button).bounding_box()["height"] >= 44
    assert page.is_visible(".hint .for-touch") and not page.is_visible(".hint .for-keys")
    page.tap("#octave-up")
    assert page.inner_text("#octave-label") == "C5" and page.locator(".key[data-pitch='72']").count() == 1
    page.tap("#octave-down")

    page.fill("#record-seconds", "2")
    page.tap("#record")
    settle(page, "recording", timeout=6000)
    for pitch in (60, 62, 64, 65, 67):
        page.tap(f".key[data-pitch='{pitch}']")
        page.wait_for_timeout(200)
    settle(page)
    assert roll(page, "input") == 5 and roll(page, "continuation") > 0
    stop_playing(page)
    page.evaluate("window.scrollTo(0, 0)")
    # The viewport only: a full-page capture re-renders the page without the phone's touch emulation.
    page.screenshot(path=str(SCREENSHOTS / "phone.png"))
    context.close()


def test_desktop_screenshot(page):
    free_take(page, "asdfghjk")
    screenshot(page, "desktop")


def test_loop_plays_the_take_again_until_stopped(page):
    page.fill("#seconds", "1")
    free_take(page, "sd")
    page.check("#loop")
    page.click("#play")
    end = page.evaluate("JSON.parse(localStorage.getItem('segue.takes.v1'))[0].inputSeconds") + 1
    page.wait_for_function(f"() => Number(document.getElementById('roll').dataset.playhead) > {end - 0.3}")
    page.wait_for_function("() => { const head = document.getElementById('roll').dataset.playhead;"  # from the top
                           " return head !== '' && Number(head) < 0.3 && document.body.dataset.state === 'playing'; }",
                           timeout=5000)
    stop_playing(page)
    wait_idle(page)
