"""Recorded sessions on a real SQLite file and a real PostgreSQL server: the store, the recorder, the CLI."""

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict

import pyarrow.parquet as pq
import pytest
from sqlalchemy import inspect

from moodlens.recording.export import export_bytes
from moodlens.recording.options import RecordOptions
from moodlens.recording.recorder import record, step_of
from moodlens.recording.store import SCHEMA_VERSION, Step, Store, StoreError, meta_table
from moodlens.recording.timeline import export_columns, session_settings, timeline
from moodlens.runtime.crowd import crowd_summary

from conftest import COUPLE, SELFIE, free_port, make_pan_video, run_cli


@pytest.fixture(scope="module")
def pan_video(tmp_path_factory):
    """4 s of a real group photo at 10 frames/s: 8 steps at 2 frames/s."""
    return make_pan_video(tmp_path_factory.mktemp("video") / "pan.mp4", frames=40, fps=10.0)


def stored(database: str, name: str) -> list:
    store = Store(database)
    return list(store.read_steps(store.get(name)))


def test_steps_hold_aggregates_only_and_the_timeline_sums_them(database, analyzer):
    store = Store(database)
    labels = analyzer.labels
    session = store.open_session("meeting", labels, {"source": "test"})
    selfie, couple = analyzer.analyze(SELFIE), analyzer.analyze(COUPLE)
    t0 = session.created
    for moment, result in [(t0 + 0.5, selfie), (t0 + 1.0, couple), (t0 + 5.2, selfie)]:
        store.add_step(session, "camera", step_of(result, moment, labels))

    columns = {column["name"] for column in inspect(store.engine).get_columns("moodlens_steps")}
    assert columns == {
        "id",
        "session_id",
        "recorder",
        "time",
        "faces",
        "readable",
        "facing",
        "counts",
        "score_sums",
        "evidence",
    }
    steps = [step for _, step in store.read_steps(session)]
    assert [s.faces for s in steps] == [len(selfie.faces), len(couple.faces), len(selfie.faces)]
    assert steps[0] == step_of(selfie, t0 + 0.5, labels)  # what went in comes out, JSON and all

    line = timeline(session, store.read_steps(session), 2.0)
    first, last = line["buckets"]
    assert (first["t"], last["t"], first["steps"], last["steps"]) == (0.0, 4.0, 2, 1)
    assert first["faces"] == (len(selfie.faces) + len(couple.faces)) / 2  # per step, one recorder
    readable = [f for f in selfie.faces + couple.faces if f.readable]
    happy = sum(f.emotion == "happy" for f in readable) / len(readable)
    assert first["shares"]["happy"]["share"] == round(happy, 4) == first["positive_share"]
    assert sum(share["share"] for share in first["shares"].values()) == pytest.approx(1, abs=1e-3)
    facing = sum(bool(f.facing) for f in selfie.faces + couple.faces)
    assert first["attention"] == round(facing / (len(selfie.faces) + len(couple.faces)), 4)
    by_positive = sorted(line["buckets"], key=lambda b: b["positive_share"])
    assert line["markers"] == {"highest_positive": by_positive[-1]["t"], "lowest_positive": by_positive[0]["t"]}

    parquet = pq.read_table(io.BytesIO(export_bytes(line, "parquet")))
    rows = list(csv.DictReader(io.StringIO(export_bytes(line, "csv").decode())))
    assert parquet.column_names == export_columns(labels) == list(rows[0])
    assert (
        parquet.column("happy").to_pylist()
        == [float(row["happy"]) for row in rows]
        == [b["shares"]["happy"]["share"] for b in line["buckets"]]
    )
    store.delete("meeting")
    assert store.find("meeting") is None and store.summaries() == []


def test_a_session_corrects_its_shares_with_the_calibration_it_was_recorded_with(database, analyzer):
    store, calibration = Store(database), analyzer.calibration
    session = store.open_session("hall", analyzer.labels, session_settings("default", calibration))
    selfie, couple = analyzer.analyze(SELFIE), analyzer.analyze(COUPLE)
    for moment, result in [(0.5, selfie), (1.0, couple)]:
        store.add_step(session, "camera", step_of(result, session.created + moment, analyzer.labels, calibration))
    (bucket,) = timeline(store.get("hall"), store.read_steps(session), 10.0)["buckets"]
    pooled = crowd_summary(selfie.faces + couple.faces, analyzer.labels, calibration)
    assert set(next(store.read_steps(session))[1].evidence) == {kind.name for kind in calibration.kinds}
    assert bucket["method"] == "corrected" and bucket["kind"] == pooled.kind
    for label, share in bucket["shares"].items():  # the same estimate; the interval counts people, not steps
        assert share["share"] == pytest.approx(pooled.shares[label].share, abs=2e-4)
        assert share["high"] - share["low"] >= pooled.shares[label].high - pooled.shares[label].low - 1e-4


def test_a_newer_schema_is_refused_and_an_older_one_upgraded(database):
    store = Store(database)
    with store.engine.begin() as db:
        db.execute(meta_table.update().values(value=str(SCHEMA_VERSION + 1)))
    with pytest.raises(StoreError, match="newer moodlens"):
        Store(database)
    session = store.open_session("old", ["happy", "sad"], {})
    store.add_step(session, "camera", Step(session.created + 1, 1, 1, 1, {"happy": 1}, {"happy": 0.9, "sad": 0.1}))
    with store.engine.begin() as db:  # as a database of before schema versions (schema 1) would be
        db.execute(meta_table.delete())
        db.exec_driver_sql("ALTER TABLE moodlens_steps DROP COLUMN evidence")
    upgraded = Store(database)
    with store.engine.connect() as db:
        assert db.execute(meta_table.select()).first().value == str(SCHEMA_VERSION)
    (old,) = [step for _, step in upgraded.read_steps(session)]
    assert old.evidence == {} and old.score_sums == {"happy": 0.9, "sad": 0.1}  # what it had is kept
    new = Step(session.created + 2, 1, 1, 1, {"sad": 1}, {"happy": 0.2, "sad": 0.8}, {"photos": -7.5})
    upgraded.add_step(session, "camera", new)
    assert [step for _, step in upgraded.read_steps(session)][-1] == new


@pytest.mark.slow
def test_recording_a_video_then_again_continues_without_duplicates(database, pan_video, tmp_path):
    first = run_cli("record", pan_video, "--session", "talk", "--db", database, "--fps", "2")
    assert first.returncode == 0, first.stderr
    assert "8 steps recorded" in first.stdout
    again = run_cli("record", pan_video, "--session", "talk", "--db", database, "--fps", "2")
    assert again.returncode == 0 and "0 steps recorded" in again.stdout
    steps = [step for _, step in stored(database, "talk")]
    assert len(steps) == 8 and all(s.faces >= 5 for s in steps)
    assert [round(s.time - steps[0].time, 3) for s in steps] == [i / 2 for i in range(8)]  # the video's own clock

    listed = run_cli("sessions", "list", "--db", database)
    assert listed.returncode == 0 and "talk" in listed.stdout and " 8 " in listed.stdout
    shown = json.loads(run_cli("sessions", "show", "talk", "--bucket", "2", "--db", database).stdout)
    assert [b["steps"] for b in shown["buckets"]] == [4, 4]
    for out in (tmp_path / "talk.csv", tmp_path / "talk.parquet"):
        exported = run_cli("sessions", "export", "talk", "--bucket", "1", "--out", out, "--db", database)
        assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO((tmp_path / "talk.csv").read_text())))
    assert pq.read_table(tmp_path / "talk.parquet").num_rows == len(rows) == 4
    assert run_cli("sessions", "delete", "talk", "--db", database).returncode == 0
    gone = run_cli("sessions", "show", "talk", "--db", database)
    assert gone.returncode == 2 and gone.stderr.strip() == "moodlens: error: no session 'talk'"


@pytest.mark.postgres
def test_two_recorders_write_into_one_postgresql_session(postgres_server, pan_video):
    database = f"{postgres_server}/postgres"
    recorders = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "moodlens",
                "record",
                pan_video,
                "--session",
                "hall",
                "--recorder",
                name,
                "--db",
                database,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("left", "right")
    ]
    for recorder in recorders:
        _, err = recorder.communicate(timeout=300)
        assert recorder.returncode == 0, err
    steps = stored(database, "hall")
    assert sorted(name for name, _ in steps) == ["left"] * 8 + ["right"] * 8
    store = Store(database)
    line = timeline(store.get("hall"), store.read_steps(store.get("hall")), 10.0)
    (bucket,) = line["buckets"]
    single = sum(s.faces for name, s in steps if name == "left") / 8
    assert bucket["faces"] == pytest.approx(2 * single, abs=0.01)  # two cameras: their people added up


def test_a_recorder_killed_hard_loses_at_most_a_step_and_carries_on(database, tmp_path):
    video = make_pan_video(tmp_path / "long.mp4", frames=200, fps=10.0)  # 20 s: 40 steps at 2 frames/s
    command = [sys.executable, "-m", "moodlens", "record", video, "--session", "lecture", "--db", database]
    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and (len(stored(database, "lecture")) if Store(database).find("lecture") else 0) < 5:
        time.sleep(0.2)
    os.kill(recorder.pid, signal.SIGKILL)
    recorder.wait()
    before = [step.time for _, step in stored(database, "lecture")]
    assert 5 <= len(before) < 40
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    times = [step.time for _, step in stored(database, "lecture")]
    assert times[: len(before)] == before and len(times) == 40
    assert [round(t - times[0], 3) for t in times] == [i / 2 for i in range(40)]  # none lost, none twice


def test_recorders_starting_together_on_a_new_database_all_get_it(database):
    script = "import sys; from moodlens.recording.store import Store; Store(sys.argv[1]).open_session('x', ['a'], {})"
    starters = [subprocess.Popen([sys.executable, "-c", script, database], stderr=subprocess.PIPE) for _ in range(4)]
    errors = [p.communicate(timeout=120)[1].decode() for p in starters]
    assert [p.returncode for p in starters] == [0] * 4, errors
    assert [s["name"] for s in Store(database).summaries()] == ["x"]


def test_an_unreachable_database_is_one_line_without_its_password():
    url = f"postgresql+psycopg://bob:secret@127.0.0.1:{free_port()}/events"
    result = run_cli("sessions", "list", "--db", url)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("moodlens: error: postgresql+psycopg://bob:***@127.0.0.1") and "secret" not in lines[0]
    unknown = run_cli("sessions", "list", "--db", "nonsense://")
    assert unknown.returncode == 2 and "not a database URL" in unknown.stderr


def test_a_second_video_file_follows_the_first_unless_placed_with_at(tmp_path, pan_video, analyzer):
    store = Store(f"sqlite:///{tmp_path / 'sessions.sqlite'}")
    part2, camera2 = tmp_path / "part2.mp4", tmp_path / "camera2.mp4"
    shutil.copyfile(pan_video, part2)
    shutil.copyfile(pan_video, camera2)
    record(store, "gig", analyzer, str(pan_video), RecordOptions(), {})
    record(store, "gig", analyzer, str(part2), RecordOptions(), {})  # the event goes on in a second file
    record(store, "gig", analyzer, str(camera2), RecordOptions(at=0), {})  # another camera, same event
    assert record(store, "gig", analyzer, str(part2), RecordOptions(), {}) == 0  # again: nothing new
    times = defaultdict(list)
    for recorder, step in store.read_steps(store.get("gig")):
        times[recorder.rsplit(":", 1)[-1]].append(step.time)
    first, second, camera = (times[str(path)] for path in (pan_video, part2, camera2))
    assert len(first) == len(second) == len(camera) == 8
    assert round(second[0] - first[-1], 3) == 0.5  # one step after the first file's last
    assert camera == first


def test_buckets_that_all_have_the_same_positive_share_mark_no_moment(tmp_path, analyzer):
    store = Store(f"sqlite:///{tmp_path / 'sessions.sqlite'}")
    session = store.open_session("steady", analyzer.labels, {})
    selfie = analyzer.analyze(SELFIE)
    for moment in (1.0, 12.0, 23.0):  # three buckets of 10 s, each the same picture
        store.add_step(session, "camera", step_of(selfie, session.created + moment, analyzer.labels))
    line = timeline(session, store.read_steps(session), 10.0)
    assert len(line["buckets"]) == 3 and line["markers"] == {}
