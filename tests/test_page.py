"""The web page in a real headless Chromium (Debian's package), driven by Playwright."""

import shutil

import cv2
import numpy as np
import pytest
from playwright.sync_api import sync_playwright

from moodlens.runtime.imaging import read_image

from conftest import MUXSPACE, SELFIE, SHARED, make_pan_video, run_cli, running_server

pytestmark = pytest.mark.browser

CROWD = SHARED / "faces" / "dlib" / "bald_guys.jpg"
PARADE = SHARED / "crowds" / "wider416" / "images" / "0_Parade_marchingband_1_172.jpg"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def write_y4m(path, frames: list[np.ndarray], fps: int = 15) -> None:
    """A raw YUV 4:2:0 video, the format Chromium's fake capture device plays in a loop."""
    height, width = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for rgb in frames:
            f.write(b"FRAME\n" + cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).tobytes())


def webcam_video(path) -> None:
    """Two seconds of a real group photo, then two of a real portrait, at 640x480."""
    photos = [read_image(SELFIE), read_image(sorted((MUXSPACE / "images").iterdir())[1])]
    frames = []
    for photo in photos:
        canvas = np.full((480, 640, 3), 90, np.uint8)
        scale = min(640 / photo.shape[1], 480 / photo.shape[0])
        resized = cv2.resize(photo, None, fx=scale, fy=scale)
        top, left = (480 - resized.shape[0]) // 2, (640 - resized.shape[1]) // 2
        canvas[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
        frames += [canvas] * 30
    write_y4m(path, frames)


@pytest.fixture(scope="module")
def server():
    with running_server("--threads", "2") as (_, url):
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    assert shutil.which(CHROMIUM), "Debian's chromium package is needed: apt-get install chromium"
    video = tmp_path_factory.mktemp("camera") / "faces.y4m"
    webcam_video(video)
    args = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        yield browser
        browser.close()


def painted_pixels(page, selector: str) -> int:
    return page.eval_on_selector(
        selector,
        """canvas => { const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
                       let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""",
    )


def test_upload_a_group_photo_draws_faces_bars_and_chart(server, browser):
    page = browser.new_page()
    page.goto(server)
    page.set_input_files("#file", str(SELFIE))
    page.wait_for_selector("body[data-faces]", timeout=30_000)
    assert page.get_attribute("body", "data-faces") == "7"
    assert page.locator("#faces li.face").count() == 7
    assert page.locator("#faces li.face").first.locator(".bar").count() == 8  # a bar per class of default
    assert page.eval_on_selector("#photo", "c => [c.width, c.height]") == [600, 604]
    assert painted_pixels(page, "#summary-chart") > 1000
    summary = page.evaluate("() => state.result.summary")
    assert page.text_content("#crowd-text") == (
        f"7 faces, 7 readable: {', '.join(summary['lines'][1:])} of the readable faces "
        "(95 % intervals, corrected for the model's confusions)."
    )
    first = page.locator("#faces li.face").first
    assert not first.locator(".bar").first.is_visible()  # one line a face; its bars on a tap
    first.locator("summary").click()
    assert first.locator(".bar").first.is_visible()
    box = page.evaluate("() => state.result.faces[0].box")
    region = f"c => Array.from(c.getContext('2d').getImageData({box[0] + 10}, {box[1] + 20}, 40, 40).data)"
    before = np.array(page.eval_on_selector("#photo", region), float)
    page.check("#blur")
    after = np.array(page.eval_on_selector("#photo", region), float)
    assert np.abs(before - after).mean() > 3
    page.close()


def test_page_fits_a_phone_screen(server, browser):
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page.goto(server)
    page.set_input_files("#file", str(SELFIE))
    page.wait_for_selector("body[data-faces]", timeout=30_000)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    assert page.eval_on_selector("#photo", "c => c.getBoundingClientRect().width") <= 390
    page.close()


def test_webcam_gets_live_results(server, browser):
    """Results keep arriving and are right; how fast they arrive is measured in benchmarks, not here."""
    page = browser.new_page()
    page.goto(server)
    page.click("#mode-webcam")
    page.click("#webcam-start")
    page.wait_for_function("() => Number(document.body.dataset.liveFrames || 0) >= 5", timeout=60_000)
    frames = int(page.get_attribute("body", "data-live-frames"))
    page.wait_for_function(f"() => Number(document.body.dataset.liveFrames) >= {frames + 5}", timeout=60_000)
    faces_seen = page.evaluate("() => state.history.map(h => h.faces)")
    assert max(faces_seen) >= 5  # the group photo, shrunk to 480 px high
    assert painted_pixels(page, "#overlay") > 500
    assert painted_pixels(page, "#mood-chart") > 500
    page.click("#webcam-stop")
    page.close()


def test_a_crowd_at_phone_width_has_numbered_faces_and_labels_that_never_overlap(server, browser):
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page.goto(server)
    page.set_input_files("#file", str(CROWD))
    page.wait_for_selector("body[data-faces]", timeout=30_000)
    faces = int(page.get_attribute("body", "data-faces"))
    assert faces >= 20
    layout = page.evaluate("() => state.layout")
    width, height = page.eval_on_selector("#photo", "c => [c.width, c.height]")
    assert [b["text"] for b in layout["numbers"]] == [str(i + 1) for i in range(faces)]
    numbers = page.eval_on_selector_all("#faces li.face", "items => items.map(i => i.dataset.number)")
    assert numbers == [str(i + 1) for i in range(faces)]  # the list's numbers are the ones on the picture
    labels = [label for label in layout["labels"] if label]
    assert labels, "no face got a label"
    for mark in labels + layout["numbers"]:  # boxes 16 screen pixels tall, legible at any photo size
        assert mark["h"] * layout["scale"] == pytest.approx(16, abs=layout["scale"])
    boxes = [dict(zip("xywh", face["box"], strict=True)) for face in page.evaluate("() => state.result.faces")]
    for i, label in enumerate(layout["labels"]):
        if label is None:
            continue
        assert label["x"] >= 0 and label["y"] >= 0
        assert label["x"] + label["w"] <= width and label["y"] + label["h"] <= height
        others = [r for r in labels + layout["numbers"] if r is not label] + boxes[:i] + boxes[i + 1 :]
        assert not any(overlap(label, other) for other in others), label

    covered = page.evaluate("() => state.result.faces.map(f => Boolean(f.label && f.label.covers))")
    unlabelled = next(i for i, label in enumerate(layout["labels"]) if label is None and covered[i])
    box = page.evaluate(f"() => state.result.faces[{unlabelled}].box")
    shown = page.eval_on_selector("#photo", "c => { const r = c.getBoundingClientRect(); return [r.x, r.y, r.width]; }")
    ratio = shown[2] / width
    page.mouse.click(shown[0] + (box[0] + box[2] / 2) * ratio, shown[1] + (box[1] + box[3] / 2) * ratio)
    assert page.evaluate("() => state.selected") == unlabelled
    assert page.evaluate(f"() => state.layout.labels[{unlabelled}] !== null")  # a tapped face shows its label
    assert page.get_attribute("#faces li.selected", "data-number") == str(unlabelled + 1)
    assert page.locator("#faces li.selected .bar").first.is_visible()  # tapped on the picture: its bars open
    assert page.evaluate("() => document.documentElement.scrollHeight") < 2500  # was 5,000 px with every face's bars
    page.close()


def test_a_crowd_too_small_to_read_is_counted_and_said_to_be_unreadable(server, browser):
    page = browser.new_page()
    page.goto(server)
    page.set_input_files("#file", str(PARADE))
    page.wait_for_selector("body[data-faces]", timeout=30_000)
    faces = int(page.get_attribute("body", "data-faces"))
    readable = page.evaluate("() => state.result.faces.map(f => f.readable)")
    assert faces == len(readable) >= sum(readable) + 20
    assert page.text_content("#crowd-text").startswith(f"{faces} faces, {sum(readable)} readable")
    titles = page.eval_on_selector_all("#faces li.face summary", "items => items.map(i => i.textContent)")
    unreadable = [t for t, r in zip(titles, readable, strict=True) if not r]
    assert all(t.startswith("too small to read (") for t in unreadable)
    assert page.locator("#faces li.face .bar").count() == 8 * sum(readable)  # bars for readable faces only
    labels = page.evaluate("() => state.layout.labels")
    assert all(label is None for label, r in zip(labels, readable, strict=True) if not r)
    page.close()


def overlap(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]
    )


def test_webcam_goes_on_after_error_frames(server, browser):
    page = browser.new_page()
    replies = 0

    def replace_the_first_replies_with_errors(route):
        upstream = route.connect_to_server()
        route.on_message(upstream.send)

        def reply(message):
            nonlocal replies
            replies += 1
            route.send('{"error": "busy", "detail": "at capacity"}' if replies <= 2 else message)

        upstream.on_message(reply)

    page.route_web_socket("**/v1/live*", replace_the_first_replies_with_errors)
    page.goto(server)
    page.click("#mode-webcam")
    page.click("#webcam-start")
    page.wait_for_function("() => Number(document.body.dataset.liveFrames || 0) >= 3", timeout=60_000)
    assert page.get_attribute("body", "data-live-errors") == "2"
    page.click("#webcam-stop")
    page.close()


def test_a_session_being_recorded_by_the_webcam_grows_in_the_sessions_view(server, browser):
    recording = browser.new_page()
    recording.goto(server)
    recording.click("#mode-webcam")
    recording.fill("#record-session", "workshop")
    recording.click("#webcam-start")
    recording.wait_for_function("Number(document.body.dataset.liveFrames || 0) >= 2", timeout=60_000)

    viewer = browser.new_page()
    viewer.goto(f"{server}/#session=workshop")
    viewer.wait_for_function("Number(document.body.dataset.sessionSteps || 0) >= 1", timeout=30_000)
    first = int(viewer.get_attribute("body", "data-session-steps"))
    viewer.wait_for_function(f"Number(document.body.dataset.sessionSteps) > {first}", timeout=30_000)
    assert viewer.input_value("#session-list") == "workshop"
    assert painted_pixels(viewer, "#session-chart") > 500 and painted_pixels(viewer, "#session-faces") > 200
    # the moments of most and least positive share are named only where the server found two that differ
    markers = viewer.evaluate("() => sessionView.line.markers")
    assert ("most positive at" in viewer.text_content("#session-text")) == bool(markers)
    assert viewer.get_attribute("#session-csv", "href").endswith("export?format=csv&bucket=10")
    # time ticks at round steps: 10 s over 40 s, 30 s over 95 s, an hour over 4 hours
    assert viewer.evaluate("() => [40, 95, 14400].map(tickStep)") == [10, 30, 3600]
    recording.click("#webcam-stop")
    recording.close()
    viewer.close()


def test_api_docs_load_with_no_network(server, browser):
    page = browser.new_page()
    outside = []

    def local_only(route):
        if route.request.url.startswith(server):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", local_only)
    page.goto(f"{server}/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    assert "/v1/analyze" in page.text_content(".swagger-ui")
    page.goto(f"{server}/redoc")
    page.wait_for_selector("text=Every face in one photo", timeout=30_000)
    assert outside in ([], ["https://cdn.redoc.ly/redoc/logo-mini.svg"])  # Redoc's footer logo, decoration only
    page.close()


def test_annotated_videos_play_in_the_browser(tmp_path, browser):
    out = tmp_path / "drawn"
    assert run_cli("analyze", make_pan_video(tmp_path / "pan.mp4", frames=20), "--annotate", out).returncode == 0
    (out / "play.html").write_text('<video id="v" src="pan.mp4" muted></video>')
    page = browser.new_page()
    page.goto((out / "play.html").as_uri())
    played = page.evaluate(
        """async () => { const v = document.getElementById("v"); await v.play();
           await new Promise(done => setTimeout(done, 1000));
           return { width: v.videoWidth, time: v.currentTime, error: v.error && v.error.code }; }"""
    )
    assert played["error"] is None and played["width"] > 0 and played["time"] > 0.3, played
    page.close()
