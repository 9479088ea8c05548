import shutil

from conftest import FER_TRAIN, FER_VAL, run_cli


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("moodlens: error:"), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_missing_path(tmp_path):
    assert_one_line_error(run_cli("train", tmp_path / "nowhere", "--out", tmp_path / "r"), "no such file")
    assert_one_line_error(run_cli("eval", tmp_path / "nowhere", "--model", "x", "--out", tmp_path / "e"))


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
    assert_one_line_error(result, "bored")
    assert_one_line_error(run_cli("train", FER_TRAIN, "--model", "nope", "--out", tmp_path / "r"), "unknown model")
    assert_one_line_error(run_cli("eval", FER_VAL, "--model", tmp_path / "none.pt", "--out", tmp_path / "e"))


def test_models_lists_the_registry():
    result = run_cli("models")
    assert result.returncode == 0
    for name in ("baseline", "vgg", "resnet"):
        assert name in result.stdout
