import argparse
import csv
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from moodlens.cli import build_parser
from moodlens.server.settings import ServerSettings, environment_name

from conftest import COUPLE, FER_TRAIN, FER_VAL, FERPLUS_VALID, SELFIE, run_cli, with_file_size_limit


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("moodlens: error:"), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.slow
def test_missing_path(tmp_path):
    assert_one_line_error(run_cli("train", tmp_path / "nowhere", "--out", tmp_path / "r"), "no such file")
    assert_one_line_error(run_cli("eval", tmp_path / "nowhere", "--model", "x", "--out", tmp_path / "e"))


@pytest.mark.slow
def test_empty_class_folder_and_unknown_label(tmp_path):
    data = tmp_path / "data"
    (data / "happy").mkdir(parents=True)
    for path in sorted((FER_VAL / "happy").iterdir())[:3]:
        shutil.copy(path, data / "happy")
    (data / "sad").mkdir()
    assert_one_line_error(run_cli("train", data, "--out", tmp_path / "r"), "sad", "no images")
    (data / "sad").rmdir()
    (data / "bored").mkdir()
    shutil.copy(sorted((FER_VAL / "sad").iterdir())[0], data / "bored")
    assert_one_line_error(run_cli("train", data, "--out", tmp_path / "r"), "unknown emotion label 'bored'")


def test_bad_options(tmp_path, tiny_run):
    result = run_cli("train", FER_TRAIN, "--classes", "happy,bored", "--out", tmp_path / "r")
    assert_usage_error(result, "--classes")
    assert "unknown emotion label 'bored'" in result.stderr
    assert_one_line_error(run_cli("train", FER_TRAIN, "--model", "nope", "--out", tmp_path / "r"), "unknown model")
    assert_one_line_error(run_cli("eval", FER_VAL, "--model", tmp_path / "none.pt", "--out", tmp_path / "e"))


def test_every_option_has_help_and_train_shows_its_defaults():
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name, command in commands.items():
        for action in command._actions:
            assert action.help, f"moodlens {name} {action.option_strings or action.dest} has no help"
    text = run_cli("train", "--help", env={"COLUMNS": "400"}).stdout  # no line breaks inside a help text
    assert "(default: onecycle)" in text and "(default: 0.1)" in text  # --schedule, --label-smoothing
    assert "0.1 for sgd, 0.002 for adamw" in text and "--no-clean" in text and "--teacher MODEL" in text


@pytest.mark.slow
def test_models_lists_the_registry():
    result = run_cli("models")
    assert result.returncode == 0
    for name in ("baseline", "vgg", "resnet"):
        assert name in result.stdout


def assert_usage_error(result, option: str):
    """argparse's refusal, in one line: `moodlens CMD: error: argument OPTION: ...`."""
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"argument {option}" in lines[0], result.stderr


@pytest.mark.parametrize(
    "command",
    [
        "train DATA --epochs 0",
        "train DATA --batch-size 0",
        "train DATA --batch-size -4",
        "tune DATA --trials 0",
        "analyze PHOTO --threshold 0",
        "analyze PHOTO --threshold 1.5",
        "analyze PHOTO --detect-size 16",
        "analyze PHOTO --max-faces 0",
        "analyze PHOTO --every 0",
        "analyze PHOTO --fps 0",
        "analyze PHOTO --fps -2",
        "analyze PHOTO --batch-size abc",
        "serve --threads 0",
        "serve --max-pending 0",
    ],
)
def test_out_of_range_options_are_refused_in_one_line(tmp_path, command):
    words = [{"DATA": str(FER_TRAIN), "PHOTO": str(COUPLE)}.get(w, w) for w in command.split()]
    assert_usage_error(
        run_cli(*words, "--out" if words[0] in ("train", "tune") else "--json", tmp_path / "o"), words[-2]
    )
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_files_that_are_not_models_are_refused_in_one_line(tmp_path):
    (tmp_path / "photo.onnx").write_bytes(COUPLE.read_bytes())
    (tmp_path / "broken.pt").write_bytes(b"PK\x03\x04 not a checkpoint")
    for model in ("/etc/passwd", tmp_path / "photo.onnx"):
        assert_one_line_error(run_cli("analyze", COUPLE, "--model", model), "not an ONNX model")
    assert_one_line_error(
        run_cli("eval", FER_VAL, "--model", tmp_path / "broken.pt", "--out", tmp_path / "e"), "checkpoint"
    )
    options = ["--classes", "happy,sad", "--per-class", "20", "--epochs", "1", "--teacher", tmp_path / "broken.pt"]
    assert_one_line_error(run_cli("train", FER_TRAIN, *options, "--out", tmp_path / "r"), "checkpoint")
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_an_unwritable_output_is_one_line_and_leaves_no_run_directory(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run_cli("analyze", COUPLE, "--json", blocker / "faces.json")
    assert result.returncode == 1 and result.stderr.strip().splitlines() == [
        f"moodlens: error: cannot write {blocker / 'faces.json'}: File exists ({blocker})"
    ]
    options = ["--classes", "happy,sad", "--per-class", "20", "--epochs", "1"]
    result = run_cli("train", FER_TRAIN, "--val", FER_VAL, *options, "--out", blocker / "run")
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU to train on")
def test_training_on_cuda_without_a_gpu_is_refused_in_one_line_and_leaves_nothing(tmp_path):
    options = ["--classes", "happy,sad", "--per-class", "20", "--epochs", "1", "--device", "cuda"]
    result = run_cli("train", FER_TRAIN, "--val", FER_VAL, *options, "--out", tmp_path / "run")
    assert_one_line_error(result, "--device cuda", "no CUDA GPU")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_training_set_emptied_by_cleaning_is_explained_and_leaves_nothing(tmp_path):
    """Every FER+ validation face is a re-encoded FER-2013 PublicTest face: all are removed as leaks."""
    result = run_cli("train", FERPLUS_VALID, "--val", FER_VAL, "--epochs", "1", "--out", tmp_path / "r")
    assert_one_line_error(result, "cleaning removed all", "--no-clean")
    assert not (tmp_path / "r").exists()


def test_a_full_disk_stops_analyze_in_one_line_and_keeps_the_json_valid(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(30):
        (photos / f"p{i:02}.jpg").write_bytes(SELFIE.read_bytes())
    out = tmp_path / "out"
    command = [sys.executable, "-m", "moodlens", "analyze", photos, "--json", out / "f.json", "--csv", out / "f.csv"]
    result = subprocess.run(command, capture_output=True, text=True, preexec_fn=with_file_size_limit(16_000))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"moodlens: error: cannot write {out / 'f.json'}: File too large"]
    records = json.loads((out / "f.json").read_text())
    assert 1 <= len(records) < 30 and all(len(r["faces"]) == 7 for r in records)
    rows = list(csv.DictReader((out / "f.csv").open()))
    assert len(rows) == 7 * len(records)
    drawn = out / "drawn"
    command = [sys.executable, "-m", "moodlens", "analyze", photos, "--json", out / "g.json", "--annotate", drawn]
    result = subprocess.run(command, capture_output=True, text=True, preexec_fn=with_file_size_limit(60_000))
    assert result.returncode == 1 and "cannot write" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert len(json.loads((out / "g.json").read_text())) >= 1
    assert sorted(os.listdir(out)) == ["drawn", "f.csv", "f.json", "g.json"] and os.listdir(drawn) == []


@pytest.mark.slow
def test_a_full_disk_stops_training_in_one_line_without_temporary_files(tmp_path):
    options = ["--classes", "happy,sad", "--per-class", "20", "--epochs", "1", "--model", "baseline", "--width", "8"]
    run = tmp_path / "run"
    command = [sys.executable, "-m", "moodlens", "train", FER_TRAIN, "--val", FER_VAL, *options, "--out", run]
    result = subprocess.run(command, capture_output=True, text=True, preexec_fn=with_file_size_limit(200_000))
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("WARNING")]
    assert len(lines) == 1 and lines[0].startswith(f"moodlens: error: cannot write checkpoint {run}"), result.stderr
    assert os.listdir(tmp_path) == []  # no checkpoint was written: no run directory, no .tmp file


@pytest.mark.slow
def test_eval_without_model_scores_the_shipped_default(tmp_path):
    result = run_cli("eval", FER_VAL, "--per-class", "5", "--out", tmp_path / "e")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert metrics["samples"] == 35 and metrics["labels"][:2] == ["angry", "disgust"]


def test_analyze_says_which_faces_are_in_images_and_which_in_videos(tmp_path):
    result = run_cli("analyze", COUPLE, SELFIE)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "2 images with 9 faces"
    assert lines[1].startswith("faces in the images: ")


def test_serve_options_come_from_the_servers_settings_and_are_checked():
    shown = run_cli("serve", "--help").stdout
    for name in ServerSettings.model_fields:
        assert environment_name(name) in shown, name  # every setting is an option, with its variable
    for bad in (["--threads", "0"], ["--max-upload-mb", "nan"], ["--record-fps", "inf"]):
        assert_usage_error(run_cli("serve", *bad), bad[0])
    from_env = run_cli("serve", env={"MOODLENS_THREADS": "many"})
    assert from_env.returncode == 2 and from_env.stderr.strip().splitlines() == [
        "moodlens: error: MOODLENS_THREADS: input should be a valid integer, unable to parse string as an integer"
    ]


@pytest.mark.parametrize("option", ["--fps", "--duration", "--reconnect"])
def test_record_refuses_numbers_that_are_not_finite(option, tmp_path):
    for value in ("nan", "inf"):
        assert_usage_error(run_cli("record", COUPLE, "--session", "x", option, value), option)


def test_ray_refuses_what_it_cannot_draw(tmp_path):
    result = run_cli("analyze", COUPLE, "--ray", "--annotate", tmp_path / "drawn")
    assert result.returncode == 2 and "drop --annotate" in result.stderr and not (tmp_path / "drawn").exists()
