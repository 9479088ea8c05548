"""The canonical emotion label set and the synonyms data sets use for it."""

from moodlens.runtime.errors import MoodlensError

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt")
FER2013_EMOTIONS: tuple[str, ...] = EMOTIONS[:7]  # index order of the FER-2013 challenge CSV

SYNONYMS: dict[str, str] = {
    "anger": "angry",
    "disgusted": "disgust",
    "fearful": "fear",
    "scared": "fear",
    "happiness": "happy",
    "joy": "happy",
    "sadness": "sad",
    "surprised": "surprise",
    "contemptuous": "contempt",
    "calm": "neutral",
}


class UnknownLabelError(MoodlensError):
    pass


def canonical_label(name: str) -> str:
    """Map a label as written in a data set ('Happiness', 'anger') to its canonical name."""
    key = name.strip().lower()
    key = SYNONYMS.get(key, key)
    if key not in EMOTIONS:
        raise UnknownLabelError(f"unknown emotion label {name!r}; known: {', '.join(EMOTIONS)}")
    return key


def parse_classes(text: str | None) -> list[str] | None:
    """Parse a --classes value such as 'angry,neutral,sad' into canonical names, in canonical order."""
    if not text:
        return None
    names = {canonical_label(part) for part in text.split(",") if part.strip()}
    return [name for name in EMOTIONS if name in names]
