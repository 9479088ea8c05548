"""Sessions in the REST API of a real server, on SQLite and PostgreSQL: live recording, timeline, export."""

import csv
import io
import json
import time

import httpx
import pyarrow.parquet as pq
import pytest
from websockets.sync.client import connect

from conftest import SELFIE, make_pan_video, run_cli, running_server


@pytest.fixture()
def served(database):
    """A real server recording into `database`."""
    with running_server("--threads", "1", "--db", database) as (_, url):
        yield url, database


def test_record_live_frames_into_a_session_then_read_export_and_delete_it(served, tmp_path):
    url, database = served
    created = httpx.post(f"{url}/v1/sessions", json={"name": "standup"})
    assert created.status_code == 201 and created.json()["name"] == "standup"
    with connect(url.replace("http", "ws") + "/v1/live?session=standup") as live:
        for _ in range(3):
            live.send(SELFIE.read_bytes())
            answer = json.loads(live.recv(timeout=60))
            assert len(answer["faces"]) == 7
            time.sleep(0.6)  # the server records at most 2 frames a second
    video = make_pan_video(tmp_path / "pan.mp4", frames=20, fps=10.0)
    recorded = run_cli("record", video, "--session", "standup", "--recorder", "door", "--db", database)
    assert recorded.returncode == 0, recorded.stderr

    (listed,) = [s for s in httpx.get(f"{url}/v1/sessions").json()["sessions"] if s["name"] == "standup"]
    assert listed["steps"] == 3 + 4
    line = httpx.get(f"{url}/v1/sessions/standup/timeline", params={"bucket": 3600}).json()
    (bucket,) = line["buckets"]
    assert bucket["steps"] == 7 and bucket["faces"] > 7  # the live camera's 7 faces and the door camera's
    assert line["markers"] == {}  # one bucket: no moment stands out

    exported = httpx.get(f"{url}/v1/sessions/standup/export", params={"format": "csv", "bucket": 1})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert 'filename="standup.csv"' in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    parquet = httpx.get(f"{url}/v1/sessions/standup/export", params={"format": "parquet", "bucket": 1})
    assert pq.read_table(io.BytesIO(parquet.content)).num_rows == len(rows) >= 2

    assert httpx.delete(f"{url}/v1/sessions/standup").status_code == 204
    gone = httpx.get(f"{url}/v1/sessions/standup/timeline")
    assert gone.status_code == 404 and gone.json()["error"] == "unknown_session"
    assert httpx.delete(f"{url}/v1/sessions/standup").status_code == 404


def test_bad_session_requests_are_refused_clearly(served):
    url, _ = served
    assert httpx.post(f"{url}/v1/sessions", json={"name": ""}).status_code == 422
    assert httpx.post(f"{url}/v1/sessions", json={"name": "a/b"}).status_code == 422
    httpx.post(f"{url}/v1/sessions", json={"name": "quiet"})
    for bucket in (0, -5, 100_000):
        refused = httpx.get(f"{url}/v1/sessions/quiet/timeline", params={"bucket": bucket})
        assert refused.status_code == 422 and refused.json()["error"] == "invalid_request"
    empty = httpx.get(f"{url}/v1/sessions/quiet/timeline").json()
    assert empty["buckets"] == [] and empty["markers"] == {}
    assert httpx.get(f"{url}/v1/sessions/quiet/export", params={"format": "xlsx"}).status_code == 422
