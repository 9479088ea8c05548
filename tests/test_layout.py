"""The code's layout as docs/architecture.md states it: each layer imports only itself and the layers above it."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "moodlens"


def stated_layers() -> list[str]:
    """The layers in the order of the architecture document's table of packages."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    return re.findall(r"^\| `(\w+)` \|", text.split("## Packages", 1)[1].split("\n## ", 1)[0], re.MULTILINE)


def imported_layers(path: Path) -> set[str]:
    """The moodlens subpackages a module imports, at its top or inside its functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name.split(".")[1] for name in names if name.startswith("moodlens.") and name.count(".") >= 1}


def test_every_package_is_a_stated_layer():
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    assert sorted(stated_layers()) == packages


def test_each_layer_imports_only_itself_and_the_layers_above_it():
    layers = stated_layers()
    wrong = []
    for rank, layer in enumerate(layers):
        allowed = set(layers[: rank + 1])
        for module in sorted((PACKAGE / layer).rglob("*.py")):
            below = imported_layers(module) & set(layers) - allowed
            wrong += [f"{module.relative_to(PACKAGE)} imports {name}" for name in sorted(below)]
    assert wrong == []


def test_errors_a_user_can_cause_share_one_base_and_are_no_valueerror():
    """The CLI prints MoodlensErrors in one line; a ValueError is a bug and keeps its traceback."""
    from moodlens.data.labels import UnknownLabelError
    from moodlens.data.readers import DatasetError
    from moodlens.recording.sources import SourceError
    from moodlens.recording.store import StoreError
    from moodlens.runtime.detection import DetectorError
    from moodlens.runtime.errors import MoodlensError
    from moodlens.runtime.imaging import ImageError
    from moodlens.runtime.video import VideoError

    for error in (UnknownLabelError, DatasetError, SourceError, StoreError, DetectorError, ImageError, VideoError):
        assert issubclass(error, MoodlensError) and not issubclass(error, ValueError), error


def test_files_are_written_whole_or_not_at_all():
    """Every result file goes through runtime.files.write_atomic (a temporary name, then a rename); only
    streams that stay valid as they grow (JSON and CSV records, video) write in place."""
    direct = re.compile(r"\.write_text\(|\.write_bytes\(|\.savefig\((?!tmp)|open\([^)]*[\"']w")
    allowed = {"runtime/files.py", "runtime/video.py"}
    found = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if str(path.relative_to(PACKAGE)) not in allowed
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if direct.search(line)
    ]
    assert found == []
