"""What a hostile tester found in recording (issue 25), on a real SQLite file and a real PostgreSQL server:
deleted sessions stay deleted, one rule for names, database failures in one line, no share where none was read."""

import contextlib
import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import cv2
import httpx
import pytest
from sqlalchemy import select

from moodlens.recording.export import export_bytes
from moodlens.recording.recorder import RecordOptions, record, step_of
from moodlens.recording.store import SessionGone, Step, Store, StoreError, sessions_table, steps_table
from moodlens.recording.timeline import session_settings, timeline

from conftest import COUPLE, SELFIE, make_pan_video, run_cli, running_server, with_file_size_limit


@pytest.fixture(scope="module")
def pan_video(tmp_path_factory):
    return make_pan_video(tmp_path_factory.mktemp("video") / "pan.mp4", frames=40, fps=10.0)


def test_a_session_deleted_while_recording_stays_deleted(database, pan_video, analyzer):
    store = Store(database)
    steps_seen = []

    def delete_after_two_steps() -> bool:
        steps_seen.append(1)
        if len(steps_seen) == 2:
            Store(database).delete("delme")  # as `moodlens sessions delete` from another process
        return False

    deleted_id = store.open_session("delme", analyzer.labels, {}).id
    with pytest.raises(SessionGone, match="'delme' was deleted while recording"):
        record(store, "delme", analyzer, str(pan_video), RecordOptions(), {}, stop=delete_after_two_steps)
    assert len(steps_seen) == 2  # the recorder stopped at its next step

    fresh = store.open_session("brand-new", analyzer.labels, {})
    assert fresh.id != deleted_id and list(store.read_steps(fresh)) == []
    with store.engine.connect() as db:
        alive = select(sessions_table.c.id)
        assert db.execute(select(steps_table.c.id).where(steps_table.c.session_id.not_in(alive))).all() == []
    # a recorder holding a session whose row is not the one it opened (deleted, its id given again) writes nothing
    stale = type(fresh)(fresh.id, fresh.name, fresh.created - 1, fresh.labels, fresh.settings)
    with pytest.raises(SessionGone):
        store.add_step(stale, "camera", Step(fresh.created, 0, 0, 0, {}, {}))


@pytest.mark.parametrize("name", ["", " padded", "team/standup", "a\x00b", "crlf\r\nX-Evil: 1", "x" * 201, 'say "hi"'])
def test_one_rule_for_session_names_before_anything_is_created(database, name, pan_video):
    with pytest.raises(StoreError, match="session name"):
        Store(database).open_session(name, ["happy"], {})
    if "\x00" not in name:  # a NUL cannot be passed on a command line at all
        result = run_cli("record", pan_video, "--session", name, "--db", database)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "session name" in result.stderr and "Traceback" not in result.stderr
    assert Store(database).summaries() == []
    Store(database).open_session("日本 会議", ["happy"], {})  # any script's letters are names


def test_a_bucket_with_no_readable_face_has_no_share(database):
    store = Store(database)
    session = store.open_session("dim", ["happy", "sad"], {})
    store.add_step(session, "camera", Step(session.created + 0.5, 2, 0, 1, {}, {}))
    store.add_step(session, "camera", Step(session.created + 3.5, 1, 1, 1, {"happy": 1}, {"happy": 0.9, "sad": 0.1}))
    line = timeline(session, store.read_steps(session), 2.0)
    unread, read = line["buckets"]
    assert unread["shares"]["happy"] == {"share": None, "low": None, "high": None} and unread["readable"] == 0
    assert unread["mean_scores"] == {"happy": None, "sad": None} and unread["positive_share"] is None
    assert read["shares"]["happy"]["share"] == 1.0
    rows = list(csv.DictReader(io.StringIO(export_bytes(line, "csv").decode())))
    assert (rows[0]["happy"], rows[0]["happy_low"], rows[0]["happy_high"]) == ("", "", "")


def test_a_file_that_is_no_database_is_one_line_from_the_cli_and_503_from_the_server(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"these are not the rows you are looking for\n" * 200)
    for args in (["sessions", "list"], ["record", COUPLE, "--session", "x"]):
        result = run_cli(*args, "--db", f"sqlite:///{junk}")
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "file is not a database" in result.stderr
    with running_server("--threads", "1", "--db", f"sqlite:///{junk}") as (_, url):
        for answer in (httpx.get(f"{url}/v1/sessions"), httpx.post(f"{url}/v1/sessions", json={"name": "x"})):
            assert answer.status_code == 503 and answer.json()["error"] == "no_database", answer.text


def test_a_schema_version_that_is_not_a_number_is_one_line(tmp_path):
    database = f"sqlite:///{tmp_path / 'odd.sqlite'}"
    Store(database)
    with sqlite3.connect(tmp_path / "odd.sqlite") as db:
        db.execute("UPDATE moodlens_meta SET value = 'abc' WHERE key = 'schema_version'")
    result = run_cli("sessions", "list", "--db", database)
    assert result.returncode == 2 and "schema_version 'abc'" in result.stderr and "int()" not in result.stderr


def test_a_full_disk_stops_record_in_one_line_and_keeps_its_steps(tmp_path, pan_video):
    database = f"sqlite:///{tmp_path / 'full.sqlite'}"
    Store(database)
    command = [sys.executable, "-m", "moodlens", "record", pan_video, "--session", "full", "--fps", "10"]
    # the database's write-ahead log may grow to 150 kB: the disk fills part way through the 40 steps
    result = subprocess.run(
        [*map(str, command), "--db", database], capture_output=True, text=True, preexec_fn=with_file_size_limit(150_000)
    )
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "cannot record a step" in result.stderr
    store = Store(database)
    assert 0 < len(list(store.read_steps(store.get("full")))) < 40


def test_a_record_that_cannot_start_leaves_no_session_and_memory_databases_are_refused(tmp_path):
    database = f"sqlite:///{tmp_path / 's.sqlite'}"
    for source in (tmp_path / "missing.mp4", "screen:-1,0,10,10"):
        failed = run_cli("record", source, "--session", "ghost", "--db", database)
        assert failed.returncode == 2 and len(failed.stderr.strip().splitlines()) == 1, failed.stderr
    assert "screen:LEFT,TOP,WIDTH,HEIGHT" in failed.stderr
    assert Store(database).summaries() == []
    for memory in ("sqlite://", "sqlite:///"):
        refused = run_cli("sessions", "list", "--db", memory)
        assert refused.returncode == 2 and "in-memory database keeps nothing" in refused.stderr


@pytest.mark.slow
def test_a_damaged_video_is_reported_and_what_it_gave_is_kept(tmp_path):
    photo = cv2.imread(str(COUPLE))
    writer = cv2.VideoWriter(str(tmp_path / "whole.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, photo.shape[1::-1])
    for _ in range(40):
        writer.write(photo)
    writer.release()
    whole = (tmp_path / "whole.avi").read_bytes()
    (tmp_path / "cut.avi").write_bytes(whole[: len(whole) // 2])  # the header still says 40 frames
    database = f"sqlite:///{tmp_path / 's.sqlite'}"
    result = run_cli("record", tmp_path / "cut.avi", "--session", "cut", "--fps", "5", "--db", database)
    assert result.returncode == 2 and "may be damaged" in result.stderr.strip().splitlines()[-1], result.stderr
    store = Store(database)
    assert 3 < store.step_count(store.get("cut")) < 20  # 20 steps had it been whole


def test_a_timeline_since_a_moment_starts_with_that_moments_whole_bucket(tmp_path):
    database = f"sqlite:///{tmp_path / 's.sqlite'}"
    store = Store(database)
    session = store.open_session("ticks", ["happy"], {})
    for i in range(20):  # a step every half second, one face, happy on the even ones
        store.add_step(session, "cam", Step(session.created + 0.5 * i, 1, 1, 1, {"happy": i % 2 == 0}, {}))
    with running_server("--threads", "1", "--db", database) as (_, url):
        whole = httpx.get(f"{url}/v1/sessions/ticks/timeline", params={"bucket": 2}).json()["buckets"]
        since = session.created + 5.3  # inside the bucket from 4 to 6 s
        part = httpx.get(f"{url}/v1/sessions/ticks/timeline", params={"bucket": 2, "since": since}).json()["buckets"]
    assert part == whole[2:]


@contextlib.contextmanager
def unwritable(*paths):
    """Paths nobody may write, root included: immutable where the file system allows it (root ignores
    permission bits), else without write permission."""
    if os.geteuid() == 0:
        made = subprocess.run(["chattr", "+i", *paths], capture_output=True)
        if made.returncode != 0:
            pytest.skip(f"cannot make files immutable here: {made.stderr.decode().strip()}")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", *paths], check=True)
        return
    modes = {path: os.stat(path).st_mode for path in paths}
    for path in paths:
        os.chmod(path, modes[path] & ~0o222)
    try:
        yield
    finally:
        for path, mode in modes.items():
            os.chmod(path, mode)


def archive(folder: Path) -> Store:
    """An SQLite database in `folder` with one session, "talk", of one step of two readable faces."""
    folder.mkdir()
    store = Store(f"sqlite:///{folder / 'sessions.sqlite'}")
    session = store.open_session("talk", ["happy", "sad"], {})
    store.add_step(session, "camera", Step(session.created + 1, 2, 2, 1, {"happy": 2}, {"happy": 1.8, "sad": 0.2}))
    return store


def test_a_read_only_database_can_be_read_and_refuses_writes_in_one_line(tmp_path):
    folder = tmp_path / "archive"
    store = archive(folder)
    database = store.url
    store.engine.dispose()
    with unwritable(folder / "sessions.sqlite", folder):
        listed = run_cli("sessions", "list", "--db", database)
        assert listed.returncode == 0 and "talk" in listed.stdout, listed.stderr
        shown = run_cli("sessions", "show", "talk", "--db", database)
        assert shown.returncode == 0 and json.loads(shown.stdout)["buckets"][0]["readable"] == 2
        deleted = run_cli("sessions", "delete", "talk", "--db", database)
        assert deleted.returncode == 2
        assert deleted.stderr.strip() == (
            f"moodlens: error: {database}: cannot delete the session (attempt to write a readonly database)"
        )
    assert [s["name"] for s in Store(database).summaries()] == ["talk"]


def test_a_read_only_database_of_the_schema_before_evidence_is_still_read(tmp_path):
    folder = tmp_path / "archive"
    store = archive(folder)
    database = store.url
    with store.engine.begin() as db:  # as schema 1 wrote it
        db.exec_driver_sql("ALTER TABLE moodlens_steps DROP COLUMN evidence")
        db.exec_driver_sql("UPDATE moodlens_meta SET value = '1' WHERE key = 'schema_version'")
    store.engine.dispose()
    with unwritable(folder / "sessions.sqlite", folder):
        shown = run_cli("sessions", "show", "talk", "--db", database)
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["buckets"][0]["readable"] == 2


def test_a_timeline_read_again_after_new_steps_is_the_whole_timeline_recomputed(tmp_path, analyzer):
    """The server keeps a session's buckets between requests and adds only the steps written since: also a
    late step into an early bucket, and a second recorder, come out as a timeline made from scratch."""
    database = f"sqlite:///{tmp_path / 's.sqlite'}"
    store = Store(database)
    session = store.open_session("hall", analyzer.labels, session_settings("default", analyzer.calibration))
    selfie, couple = analyzer.analyze(SELFIE), analyzer.analyze(COUPLE)

    def add(recorder: str, moment: float, result) -> None:
        store.add_step(session, recorder, step_of(result, session.created + moment, analyzer.labels))

    for i in range(6):
        add("cam", 3.0 * i, selfie if i % 2 else couple)
    with running_server("--threads", "1", "--db", database) as (_, url):

        def read() -> dict:
            return httpx.get(f"{url}/v1/sessions/hall/timeline", params={"bucket": 5}).json()

        assert read() == timeline(session, store.read_steps(session), 5.0)
        add("cam", 19.0, selfie)
        add("door", 1.0, selfie)  # another recorder, into the first bucket
        add("door", 40.0, couple)
        again = read()
        assert again == timeline(session, store.read_steps(session), 5.0)
        assert again["buckets"][0]["steps"] == 3 and again["buckets"][-1]["t"] == 40.0
