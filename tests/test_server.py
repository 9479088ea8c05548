import asyncio
import base64
import io
import json
import socket
import warnings

import httpx
import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from PIL import Image

from moodlens.runtime.annotate import COLORS, Style, layout
from moodlens.runtime.imaging import ImageError, read_image
from moodlens.runtime.results import Face
from moodlens.runtime.weights import DEFAULT_MODEL
from moodlens.server.app import create_app
from moodlens.server.settings import ServerSettings

from conftest import MUXSPACE, SELFIE, SHARED, running_server

CROWD = SHARED / "faces" / "dlib" / "bald_guys.jpg"


@pytest.fixture(scope="module")
def server():
    """The real server on a free localhost port, with a 1 MB body limit and room for 2 requests."""
    with running_server("--max-upload-mb", "1", "--max-pending", "2", "--threads", "1") as (_, url):
        yield url


def upload(url, path, **params):
    with open(path, "rb") as f:
        return httpx.post(f"{url}/v1/analyze", files={"file": (path.name, f, "image/jpeg")}, params=params, timeout=60)


def test_analyze_a_group_photo(server):
    response = upload(server, SELFIE)
    assert response.status_code == 200
    body = response.json()
    assert (body["width"], body["height"]) == (600, 604)
    assert len(body["faces"]) == 7 and body["summary"]["faces"] == 7
    face = body["faces"][0]
    assert set(face) == {"box", "score", "emotion", "scores", "size", "readable", "facing", "number", "label"}
    assert len(face["box"]) == 4
    assert abs(sum(face["scores"].values()) - 1) < 1e-3
    summary = body["summary"]
    assert sum(summary["counts"].values()) == summary["readable"] == 7 and summary["dominant"] in face["scores"]
    assert summary["method"] == "corrected" and summary["lines"][0] == "7 faces, 7 readable"
    assert type(summary["faces"]) is int and type(summary["readable"]) is int  # counts stay whole numbers
    assert sum(share["share"] for share in summary["shares"].values()) == pytest.approx(1, abs=1e-3)
    for share in summary["shares"].values():
        assert share["low"] <= share["share"] <= share["high"]
    assert body["timing_ms"]["total"] > 0
    assert "annotated_image" not in body


def test_options_model_threshold_max_faces_and_annotated_image(server):
    body = upload(
        server, SELFIE, model="ferplus", threshold=0.8, max_faces=3, annotated_image="true", blur="true"
    ).json()
    assert body["model"] == "ferplus" and "contempt" in body["faces"][0]["scores"]
    assert len(body["faces"]) == 3 and all(f["score"] >= 0.8 for f in body["faces"])
    header, data = body["annotated_image"].split(",", 1)
    assert header == "data:image/jpeg;base64"
    height, width, _ = read_image(base64.b64decode(data)).shape
    assert width == 600 and height > 604  # the photo over its legend and mood panel
    assert upload(server, SELFIE, model="nope").status_code == 404
    assert upload(server, SELFIE, threshold=1.5).status_code == 422


def test_batch_models_health_and_metrics(server):
    files = [
        ("files", ("a.jpg", SELFIE.read_bytes(), "image/jpeg")),
        ("files", ("b.txt", b"hello", "text/plain")),
        ("files", ("c.jpg", (SHARED / "faces/deepface/couple.jpg").read_bytes()[:2000], "image/jpeg")),
    ]
    body = httpx.post(f"{server}/v1/analyze/batch", files=files, timeout=60).json()
    results = {r["filename"]: r for r in body["results"]}
    assert len(results["a.jpg"]["faces"]) == 7
    assert results["b.txt"]["error"] == "unsupported_type"
    assert results["c.jpg"]["error"] == "unreadable_image"
    models = httpx.get(f"{server}/v1/models").json()
    assert {m["name"] for m in models["models"]} == {"default", "balanced", "ferplus", "fer2013"}
    assert httpx.get(f"{server}/healthz").json()["status"] == "ok"
    metrics = httpx.get(f"{server}/metrics").text
    assert 'moodlens_requests_total{route="/v1/analyze/batch",status="200"}' in metrics
    assert "moodlens_request_seconds_bucket" in metrics
    faces = [line for line in metrics.splitlines() if line.startswith("moodlens_faces_analysed_total")]
    assert float(faces[0].split()[-1]) >= 7
    assert 'moodlens_errors_total{kind="unsupported_type"}' in metrics


def test_a_faceless_photo_gives_no_faces(server):
    wall = io.BytesIO()
    Image.fromarray(np.full((240, 320, 3), 200, np.uint8)).save(wall, "PNG")
    response = httpx.post(f"{server}/v1/analyze", files={"file": ("wall.png", wall.getvalue(), "image/png")})
    assert response.status_code == 200 and response.json()["faces"] == []


def test_errors_are_clear_json(server):
    text = httpx.post(f"{server}/v1/analyze", files={"file": ("x.txt", b"hi", "text/plain")})
    assert text.status_code == 415 and text.json()["error"] == "unsupported_type"
    broken = httpx.post(f"{server}/v1/analyze", files={"file": ("x.jpg", b"\xff\xd8\xff\xe0 broken", "image/jpeg")})
    assert broken.status_code == 422 and broken.json()["error"] == "unreadable_image"
    bomb = io.BytesIO()
    Image.new("L", (9000, 9000)).save(bomb, "PNG")  # 81 megapixels in a few hundred kB
    assert len(bomb.getvalue()) < 1024 * 1024
    refused = httpx.post(f"{server}/v1/analyze", files={"file": ("bomb.png", bomb.getvalue(), "image/png")})
    assert refused.status_code == 413 and refused.json()["error"] == "image_too_large"
    assert httpx.post(f"{server}/v1/analyze").status_code == 422


def test_oversized_bodies_get_413(server):
    big = CROWD.read_bytes()  # 650 kB, so three of them are over the 1 MB limit
    files = [("files", (f"{i}.jpg", big, "image/jpeg")) for i in range(3)]
    response = httpx.post(f"{server}/v1/analyze/batch", files=files)
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"

    def chunks():  # no Content-Length: the limit is enforced while streaming
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        yield b"Content-Type: image/jpeg\r\n\r\n"
        for _ in range(40):
            yield b"\0" * 65536

    streamed = httpx.post(
        f"{server}/v1/analyze", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert streamed.status_code == 413


def test_413_comes_before_the_body_is_sent(server):
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"POST /v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\n"
            b"Content-Length: 104857600\r\n\r\n" + b"\0" * 1024
        )
        reply = conn.recv(4096).decode(errors="replace")
    assert reply.startswith("HTTP/1.1 413")


def test_overload_gets_503_with_retry_after(server):
    async def burst():
        async with httpx.AsyncClient(timeout=120) as client:
            data = CROWD.read_bytes()
            requests = [
                client.post(
                    f"{server}/v1/analyze",
                    files={"file": ("c.jpg", data, "image/jpeg")},
                    params={"annotated_image": "true"},
                )
                for _ in range(8)
            ]
            return await asyncio.gather(*requests)

    statuses = [r.status_code for r in asyncio.run(burst())]
    busy = [s for s in statuses if s == 503]
    assert busy and statuses.count(200) >= 2, statuses
    response = next(r for r in asyncio.run(burst()) if r.status_code == 503)
    assert response.headers["retry-after"] == "1" and response.json()["error"] == "busy"


def test_the_default_upload_limit_is_20_mb():
    assert ServerSettings().max_upload_mb == 20


def test_decoder_survives_malformed_images():
    rng = np.random.default_rng(0)
    originals = [SELFIE.read_bytes(), next(MUXSPACE.glob("images/*.jpg")).read_bytes()]
    png = io.BytesIO()
    Image.open(SELFIE).save(png, "PNG")
    originals.append(png.getvalue())
    for data in originals:
        for _ in range(40):
            damaged = bytearray(data[: rng.integers(1, len(data))])
            for position in rng.integers(0, len(damaged), size=rng.integers(0, 20)):
                damaged[position] = rng.integers(0, 256)
            try:
                image = read_image(bytes(damaged))
                assert image.dtype == np.uint8 and image.ndim == 3
            except ImageError:
                pass


def test_api_never_fails_with_a_server_error(server):
    """Property-based requests generated from the server's own OpenAPI schema, every operation."""
    schema = schemathesis.openapi.from_url(f"{server}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/analyze", "/v1/analyze/batch", "/v1/models", "/healthz"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def no_server_error(case):
            response = case.call(timeout=60)
            assert response.status_code < 500 or response.status_code == 503, (case.path, response.text)
            if case.method != "HEAD" and "application/json" in str(response.headers.get("content-type")):
                json.loads(response.text)

        no_server_error()


def test_the_page_takes_its_defaults_and_colours_from_the_server(server):
    """One source for the default model and the emotions' colours: the server; the page has neither."""
    models = httpx.get(f"{server}/v1/models").json()
    assert models["default"] == DEFAULT_MODEL
    assert models["colors"] == {label: "#{:02x}{:02x}{:02x}".format(*rgb) for label, rgb in COLORS.items()}
    page_script = httpx.get(f"{server}/static/app.js").text
    assert '"default"' not in page_script and "#dc322f" not in page_script


@pytest.mark.parametrize("label_line", [None, 40])
def test_the_page_draws_the_numbers_and_labels_the_server_places(server, label_line):
    """One placement rule (annotate.layout, as on annotated pictures): the API sends each face's number and label
    where it puts them, at the text size the page asks for; the page only draws them."""
    params = {"label_line": label_line} if label_line else {}
    body = upload(server, CROWD, **params).json()
    image = read_image(CROWD)
    faces = [Face(tuple(f["box"]), f["score"], f["emotion"], f["scores"]) for f in body["faces"]]
    style = Style.for_line(label_line) if label_line else Style.for_image(image.shape[1], image.shape[0])
    placements = layout(faces, image.shape[1], image.shape[0], style, bars=False)
    marks = lambda mark: mark and (mark["x"], mark["y"], mark["w"], mark["h"])  # noqa: E731
    assert [marks(f["number"]) for f in body["faces"]] == [p.number for p in placements]
    assert [marks(f.get("label")) for f in body["faces"]] == [p.label for p in placements]
    assert [f["label"]["covers"] for f in body["faces"] if "label" in f] == [
        p.label_covers for p in placements if p.label
    ]
    assert {f["number"]["h"] for f in body["faces"]} == {style.line}
    assert body["faces"][0]["label"]["text"] == f"{faces[0].emotion} {round(100 * faces[0].scores[faces[0].emotion])} %"
    assert sum(not f["label"]["covers"] for f in body["faces"] if "label" in f) >= 5
    assert upload(server, SELFIE, label_line=2).status_code == 422


def test_openapi_has_unique_operation_ids_and_unexpected_errors_are_json_500s():
    app = create_app(ServerSettings())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # FastAPI warns of a duplicate operation id
        app.openapi()

    @app.get("/boom")  # a route that fails as a bug would
    def boom() -> dict:
        raise RuntimeError("secret internals /etc/passwd")

    async def get_boom() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.get("/boom")

    answer = asyncio.run(get_boom())
    assert answer.status_code == 500 and answer.json()["error"] == "internal_error"
    assert "secret" not in answer.text and "RuntimeError" not in answer.text
