"""Who may drive `moodlens serve` and what its session routes answer to a hostile tester (issue 25), each
against a real server on localhost."""

import json
import time
from urllib.parse import quote

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from moodlens.recording.store import Store

from conftest import SELFIE, running_server


@pytest.fixture()
def served(tmp_path, request):
    """A server with its own SQLite database; `request.param` are extra `serve` options."""
    database = f"sqlite:///{tmp_path / 'sessions.sqlite'}"
    with running_server("--threads", "1", "--db", database, *getattr(request, "param", ())) as (_, url):
        yield url, database


def ws(url: str) -> str:
    return url.replace("http", "ws", 1)


def test_other_hosts_and_other_pages_are_refused(served):
    url, database = served
    Store(database).open_session("victim", ["happy"], {})
    foreign = httpx.delete(f"{url}/v1/sessions/victim", headers={"Host": "attacker.example"})
    assert foreign.status_code == 400  # DNS rebinding: a name this server does not serve
    redirect = httpx.get(f"{url}/static", headers={"Host": "evil.example"})
    assert redirect.status_code == 400 and "evil.example" not in redirect.headers.get("location", "")

    other_page = {"Origin": "http://127.0.0.1:1"}
    refused = httpx.delete(f"{url}/v1/sessions/victim", headers=other_page)
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    with pytest.raises(InvalidStatus) as closed:
        connect(f"{ws(url)}/v1/live?session=planted", origin="http://127.0.0.1:1").close()
    assert closed.value.response.status_code == 403
    assert [s["name"] for s in Store(database).summaries()] == ["victim"]

    same_page = {"Origin": url}
    with connect(f"{ws(url)}/v1/live", origin=url) as live:
        live.send(SELFIE.read_bytes())
        assert len(json.loads(live.recv(timeout=60))["faces"]) == 7
    assert httpx.delete(f"{url}/v1/sessions/victim", headers=same_page).status_code == 204
    page = httpx.get(f"{url}/")
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("served", [("--host", "0.0.0.0")], indirect=True)
def test_beyond_loopback_without_a_token_sessions_cannot_be_written(served):
    url, _ = served
    refused = httpx.post(f"{url}/v1/sessions", json={"name": "x"})
    assert refused.status_code == 403 and "--token" in refused.json()["detail"]
    with pytest.raises(InvalidStatus):
        connect(f"{ws(url)}/v1/live?session=x").close()
    assert httpx.get(f"{url}/v1/sessions").status_code == 200  # reading and analysing stay open
    with connect(f"{ws(url)}/v1/live") as live:
        live.send(SELFIE.read_bytes())
        assert "faces" in json.loads(live.recv(timeout=60))


@pytest.mark.parametrize("served", [("--host", "0.0.0.0", "--token", "s3cret")], indirect=True)
def test_with_a_token_writes_need_it(served):
    url, database = served
    assert httpx.post(f"{url}/v1/sessions", json={"name": "x"}).status_code == 401
    wrong = httpx.post(f"{url}/v1/sessions", json={"name": "x"}, headers={"Authorization": "Bearer guess"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "unauthorized"
    right = httpx.post(f"{url}/v1/sessions", json={"name": "x"}, headers={"Authorization": "Bearer s3cret"})
    assert right.status_code == 201
    with pytest.raises(InvalidStatus):
        connect(f"{ws(url)}/v1/live?session=x&token=guess").close()
    with connect(f"{ws(url)}/v1/live?session=x&token=s3cret") as live:
        live.send(SELFIE.read_bytes())
        assert len(json.loads(live.recv(timeout=60))["faces"]) == 7
    assert len(list(Store(database).read_steps(Store(database).get("x")))) == 1


def test_an_export_of_any_name_the_api_accepts(served):
    url, _ = served
    for name in ("日本 会議", "Q3 review: 東京@hq"):
        assert httpx.post(f"{url}/v1/sessions", json={"name": name}).status_code == 201
        exported = httpx.get(f"{url}/v1/sessions/{quote(name)}/export")
        assert exported.status_code == 200, exported.text
        disposition = exported.headers["content-disposition"]
        assert f"filename*=UTF-8''{quote(name + '.csv', safe='')}" in disposition and disposition.isascii()
    for name in ("", "a/b", "crlf\r\nX-Evil: 1", "x" * 201):
        assert httpx.post(f"{url}/v1/sessions", json={"name": name}).status_code == 422
        if not name:
            continue  # /v1/live?session= with no name records nothing
        with connect(f"{ws(url)}/v1/live?session={quote(name)}") as live, pytest.raises(ConnectionClosed) as closed:
            live.send(SELFIE.read_bytes())
            live.recv(timeout=60)
        assert closed.value.rcvd.code == 1008 and "session name" in closed.value.rcvd.reason
    assert len(httpx.get(f"{url}/v1/sessions").json()["sessions"]) == 2


def test_a_webcam_that_reconnects_is_the_same_people(served):
    url, _ = served
    for _ in range(2):  # Stop and Start in the page: a new socket, the same camera
        with connect(f"{ws(url)}/v1/live?session=room&recorder=cam1") as live:
            live.send(SELFIE.read_bytes())
            assert len(json.loads(live.recv(timeout=60))["faces"]) == 7
        time.sleep(0.6)  # past the 2-a-second recording cap
    (bucket,) = httpx.get(f"{url}/v1/sessions/room/timeline", params={"bucket": 3600}).json()["buckets"]
    assert bucket["steps"] == 2 and bucket["faces"] == 7


def test_a_recording_that_fails_stops_but_the_frames_go_on(served):
    url, database = served
    with connect(f"{ws(url)}/v1/live?session=gone") as live:
        live.send(SELFIE.read_bytes())
        assert len(json.loads(live.recv(timeout=60))["faces"]) == 7
        Store(database).delete("gone")
        time.sleep(0.6)
        live.send(SELFIE.read_bytes())
        assert len(json.loads(live.recv(timeout=60))["faces"]) == 7
        stopped = json.loads(live.recv(timeout=60))
        assert stopped["error"] == "recording_stopped" and "deleted" in stopped["detail"]
        live.send(SELFIE.read_bytes())
        assert len(json.loads(live.recv(timeout=60))["faces"]) == 7  # said once; analysis goes on
    assert Store(database).find("gone") is None
