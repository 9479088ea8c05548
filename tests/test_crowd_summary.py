"""Crowds: small faces are counted but not read, and the mood of the readable ones comes with 95 % intervals,
corrected for the model's confusions where it ships a calibration."""

import csv
import json
import math
from pathlib import Path

import pytest

from moodlens import Analyzer
from moodlens.runtime.crowd import CORRECTED, COUNTED, Z95, CrowdTally, wilson_interval
from moodlens.runtime.results import READABLE_WIDTH

from conftest import SELFIE, SHARED, run_cli

PARADE = SHARED / "crowds" / "wider416" / "images" / "0_Parade_marchingband_1_172.jpg"
BALD_GUYS = SHARED / "faces" / "dlib" / "bald_guys.jpg"


@pytest.mark.parametrize("count, n", [(62, 100), (3, 7), (412, 500), (1, 1000)])
def test_wilson_interval_ends_are_the_shares_the_observed_one_is_1_96_standard_errors_from(count, n):
    for p in wilson_interval(count / n, n):  # the defining equation of the score interval (to 4 decimals)
        assert abs(count / n - p) == pytest.approx(Z95 * math.sqrt(p * (1 - p) / n), abs=2e-4)


def test_wilson_interval_at_the_edges():
    assert wilson_interval(0, 10)[0] == 0 and 0.25 < wilson_interval(0, 10)[1] < 0.35
    assert wilson_interval(1, 10)[1] == pytest.approx(1) and wilson_interval(0, 0) == (0.0, 1.0)


def test_faces_narrower_than_the_readable_width_are_counted_without_an_emotion(analyzer):
    faces = analyzer.analyze(BALD_GUYS).faces + analyzer.analyze(PARADE).faces
    small = [f for f in faces if f.box[2] < READABLE_WIDTH]
    large = [f for f in faces if f.box[2] >= READABLE_WIDTH]
    assert len(small) >= 20 and len(large) >= 20
    assert all(f.emotion is None and not f.readable and abs(sum(f.scores.values()) - 1) < 1e-3 for f in small)
    assert all(f.emotion == max(f.scores, key=f.scores.get) for f in large)
    record = small[0].to_dict()
    assert record["readable"] is False and record["emotion"] is None and record["size"] == small[0].box[2]

    for calibration, method in ((None, COUNTED), (analyzer.calibration, CORRECTED)):
        tally = CrowdTally(analyzer.labels, calibration)
        tally.add(faces)
        summary = tally.summary()
        assert (summary.faces, summary.readable, summary.method) == (len(faces), len(large), method)
        assert sum(summary.counts.values()) == len(large)
        assert sum(share.share for share in summary.shares.values()) == pytest.approx(1, abs=1e-3)
        for label, share in summary.shares.items():
            assert share.low <= share.share <= share.high
            if method == COUNTED:
                assert share.share == pytest.approx(summary.counts[label] / len(large), abs=1e-4)
        top = max(summary.shares, key=lambda label: summary.shares[label].share)
        assert summary.dominant == top and summary.positive_share == summary.shares["happy"].share
        assert summary.lines[0] == f"{len(faces)} faces, {len(large)} readable"
        assert summary.lines[1].startswith(f"{top} {round(100 * summary.shares[top].share)} % (")

    every = Analyzer(threads=1, readable_width=0).analyze(PARADE).faces
    assert every and all(f.readable for f in every)


def test_crowd_summary_in_json_csv_console_and_summary_file(tmp_path):
    out = tmp_path / "out"
    result = run_cli("analyze", PARADE, SELFIE, "--json", out / "f.json", "--csv", out / "f.csv", "--summary", out)
    assert result.returncode == 0, result.stderr
    records = json.loads((out / "f.json").read_text())
    parade = next(r for r in records if r["path"] == str(PARADE))
    parade_readable = sum(f["readable"] for f in parade["faces"])
    assert parade["summary"]["faces"] == len(parade["faces"]) >= parade["summary"]["readable"] + 20
    assert parade["summary"]["readable"] == parade_readable
    crowd = json.loads((out / "summary.json").read_text())["crowd"]
    assert crowd["faces"] == sum(len(r["faces"]) for r in records)
    readable = sum(f["readable"] for r in records for f in r["faces"])
    assert crowd["readable"] == readable == 7 + parade_readable  # all of the selfie's faces are readable
    assert crowd["method"] == "corrected" and crowd["dominant"] == crowd["lines"][1].split()[0]
    with open(out / "f.csv") as f:
        rows = list(csv.DictReader(f))
    assert sum(row["readable"] == "False" and row["emotion"] == "" for row in rows) == crowd["faces"] - readable
    with open(out / "images.csv") as f:
        per_photo = {row["path"]: row for row in csv.DictReader(f)}
    assert per_photo[str(PARADE)]["faces"] == str(parade["summary"]["faces"])
    selfie = next(r for r in records if r["path"] == str(SELFIE))["summary"]
    happy = selfie["shares"]["happy"]
    assert [float(per_photo[str(SELFIE)][k]) for k in ("happy", "happy_low", "happy_high")] == pytest.approx(
        [happy["share"], happy["low"], happy["high"]]
    )
    line = result.stdout.splitlines()[1]
    assert line == f"faces in the images: {crowd['faces']} faces, {readable} readable; " + ", ".join(crowd["lines"][1:])
    assert " % (" in line


def test_the_readable_width_is_the_one_the_committed_benchmark_chose():
    committed = json.loads((Path(__file__).parents[1] / "benchmarks/results/readable_size.json").read_text())
    assert committed["readable_width"] == READABLE_WIDTH
