"""What a hostile tester tried on `moodlens serve`, each against the real server on localhost."""

import asyncio
import io
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import httpx
import pytest
from PIL import Image
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from moodlens.server.limits import PixelBudget

from conftest import COUPLE, SELFIE, running_server, server_log


@pytest.fixture(scope="module")
def server():
    """Default limits (20 MB bodies, 64 megapixels), one analysis thread, room for 1 request, 2 live sockets."""
    with running_server("--threads", "1", "--max-pending", "1", "--max-live", "2") as (process, url):
        yield process, url


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height)).save(out, "PNG")
    return out.getvalue()


def metric(url: str, name: str, **labels) -> float:
    text = httpx.get(f"{url}/metrics").text
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$" if labels else rf"^{name} (\S+)$"
    values = [float(m.group(1)) for m in re.finditer(pattern, text, re.MULTILINE)]
    return sum(values)


def test_clients_that_send_the_whole_body_read_the_413(server):
    _, url = server
    body = b"\0" * (25 * 1024 * 1024)
    response = httpx.post(f"{url}/v1/analyze", files={"file": ("big.jpg", body, "image/jpeg")}, timeout=60)
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"
    request = urllib.request.Request(f"{url}/v1/analyze", data=body, headers={"Content-Type": "image/jpeg"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    assert refused.value.code == 413 and json.loads(refused.value.read())["error"] == "payload_too_large"


def test_a_client_waiting_for_100_continue_gets_413_without_sending(server):
    _, url = server
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"POST /v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
            b"Content-Length: 104857600\r\nExpect: 100-continue\r\n\r\n"
        )
        assert conn.recv(4096).decode(errors="replace").startswith("HTTP/1.1 413")


@pytest.mark.parametrize("megapixels", [65, 90, 200])
def test_every_image_over_the_pixel_limit_gets_one_413(server, megapixels):
    _, url = server
    side = int((megapixels * 1e6) ** 0.5) + 1
    response = httpx.post(f"{url}/v1/analyze", files={"file": ("bomb.png", png(side, side), "image/png")}, timeout=60)
    assert response.status_code == 413
    assert response.json() == {
        "error": "image_too_large",
        "detail": "bomb.png: the image is over the 64,000,000-pixel limit",
    }


def test_the_type_is_judged_by_the_bytes_not_the_declared_type(server):
    _, url = server
    gif = io.BytesIO()
    Image.open(COUPLE).save(gif, "GIF")
    as_jpeg = httpx.post(f"{url}/v1/analyze", files={"file": ("a.jpg", gif.getvalue(), "image/jpeg")}, timeout=60)
    assert as_jpeg.status_code == 415 and as_jpeg.json()["error"] == "unsupported_type"
    for declared in ("application/octet-stream", "image/JPEG"):
        ok = httpx.post(f"{url}/v1/analyze", files={"file": ("c", COUPLE.read_bytes(), declared)}, timeout=60)
        assert ok.status_code == 200 and len(ok.json()["faces"]) == 2, declared


def test_methods_head_and_validation_errors_answer_as_documented(server):
    _, url = server
    wrong_method = httpx.get(f"{url}/v1/analyze")
    assert wrong_method.status_code == 405 and wrong_method.json()["error"] == "method_not_allowed"
    assert httpx.head(f"{url}/healthz").status_code == 200
    assert httpx.head(f"{url}/").status_code == 200
    missing = httpx.get(f"{url}/no/such/page")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    invalid = httpx.post(f"{url}/v1/analyze", params={"threshold": 7}, files={"file": ("c.jpg", b"x", "image/jpeg")})
    assert invalid.status_code == 422
    body = invalid.json()
    assert set(body) == {"error", "detail"} and body["error"] == "invalid_request" and "threshold" in body["detail"]


def test_metrics_count_every_answer_with_its_real_status_and_kind(server):
    _, url = server
    before_413 = metric(url, "moodlens_requests_total", route="/v1/analyze", status="413")
    before_400 = metric(url, "moodlens_requests_total", route="/v1/analyze", status="400")
    before_kind = metric(url, "moodlens_errors_total", kind="payload_too_large")
    before_invalid = metric(url, "moodlens_errors_total", kind="invalid_request")
    huge = b"\0" * (21 * 1024 * 1024)
    assert httpx.post(f"{url}/v1/analyze", content=huge, timeout=60).status_code == 413  # from Content-Length

    def chunks():  # no Content-Length: refused while streaming
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
        for _ in range(400):
            yield b"\0" * 65536

    streamed = httpx.post(
        f"{url}/v1/analyze", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"}, timeout=60
    )
    assert streamed.status_code == 413
    assert httpx.post(f"{url}/v1/analyze").status_code == 422
    assert metric(url, "moodlens_requests_total", route="/v1/analyze", status="413") == before_413 + 2
    assert metric(url, "moodlens_requests_total", route="/v1/analyze", status="400") == before_400
    assert metric(url, "moodlens_errors_total", kind="payload_too_large") == before_kind + 2
    assert metric(url, "moodlens_errors_total", kind="invalid_request") == before_invalid + 1


def test_refusing_at_capacity_logs_no_warning(server):
    process, url = server

    async def burst():
        async with httpx.AsyncClient(timeout=120) as client:
            data = SELFIE.read_bytes()
            requests = [
                client.post(f"{url}/v1/analyze", files={"file": ("s.jpg", data, "image/jpeg")}) for _ in range(12)
            ]
            return [r.status_code for r in await asyncio.gather(*requests)]

    statuses = asyncio.run(burst())
    assert 503 in statuses and 200 in statuses, statuses
    log = server_log(process)
    assert "never awaited" not in log and "Traceback" not in log, log[-2000:]


def test_live_text_frames_get_an_error_and_the_socket_stays_open(server):
    process, url = server
    with connect(url.replace("http", "ws") + "/v1/live") as live:
        live.send("hello")
        assert json.loads(live.recv(timeout=30))["error"] == "unsupported_frame"
        live.send(SELFIE.read_bytes())
        answer = json.loads(live.recv(timeout=60))
        assert len(answer["faces"]) == 7 and all("track" in face for face in answer["faces"])
    assert "Traceback" not in server_log(process)


def test_live_connections_are_capped_and_frames_are_admitted_like_requests(server):
    _, url = server
    frame, live_url = SELFIE.read_bytes(), url.replace("http", "ws") + "/v1/live"
    with connect(live_url) as first, connect(live_url) as second:
        with connect(live_url) as third, pytest.raises(ConnectionClosed) as closed:
            third.recv(timeout=30)
        assert closed.value.rcvd.code == 1013
        for _ in range(6):  # two sockets, one frame in flight each, room for one: frames are answered busy
            first.send(frame)
            second.send(frame)
        answers = [json.loads(socket.recv(timeout=60)) for socket in (first, second) for _ in range(6)]
        assert {a.get("error") for a in answers} == {"busy", None}
        assert all(len(a["faces"]) == 7 for a in answers if "error" not in a)
    healthy = httpx.post(f"{url}/v1/analyze", files={"file": ("s.jpg", frame, "image/jpeg")}, timeout=60)
    assert healthy.status_code == 200


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


@pytest.mark.slow
def test_large_images_keep_memory_bounded_by_pixels():
    """3 clients at once each post a small PNG that decodes to 39.9 megapixels, just under the limit: the
    workers take them one at a time (the pixel budget), and the server stays under 1 GB whatever the CPU."""
    with running_server("--threads", "2") as (process, url):
        data = png(6316, 6316)

        async def clients():
            async with httpx.AsyncClient(timeout=300) as client:
                posts = [
                    client.post(f"{url}/v1/analyze", files={"file": ("b.png", data, "image/png")}) for _ in range(3)
                ]
                return await asyncio.gather(*posts)

        responses = asyncio.run(clients())
        assert [r.status_code for r in responses] == [200] * 3 and responses[0].json()["width"] == 6316
        assert peak_rss_mb(process.pid) < 1024


def test_the_pixel_budget_lets_large_images_through_one_at_a_time():
    budget, inside, seen = PixelBudget(64_000_000), [], []

    def analyse(pixels: int) -> None:
        with budget.hold(pixels):
            inside.append(pixels)
            seen.append(list(inside))  # the images being analysed together
            time.sleep(0.05)
            inside.remove(pixels)

    threads = [threading.Thread(target=analyse, args=(40_000_000,)) for _ in range(4)]
    threads += [threading.Thread(target=analyse, args=(100_000_000,))]  # over the budget: runs alone
    threads += [threading.Thread(target=analyse, args=(1_000_000,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(seen) == 13 and budget.used == 0
    assert all(sum(together) <= 64_000_000 or together == [100_000_000] for together in seen), seen


@pytest.mark.slow
def test_metrics_add_up_across_worker_processes():
    with running_server("--workers", "2") as (_, url):
        before = metric(url, "moodlens_requests_total", route="/v1/models", status="200")
        for _ in range(20):
            assert httpx.get(f"{url}/v1/models", headers={"connection": "close"}).status_code == 200
        for _ in range(4):  # whichever process answers the scrape, it shows both processes' counts
            assert metric(url, "moodlens_requests_total", route="/v1/models", status="200") == before + 20
