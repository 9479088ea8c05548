"""Command-line options declared once: dataclass fields that carry their help, type and bounds (`option`),
from which argparse options are made (`add_options`) and read back (`options_from`); and the value types,
numbers within bounds and emotion lists, each refused with a one-line reason."""

from __future__ import annotations

import argparse
import math
from dataclasses import Field, field, fields

from moodlens.data.labels import parse_classes
from moodlens.runtime.errors import MoodlensError


def number(kind: type, low: float | None = None, high: float | None = None, low_open=False, high_open=False):
    """An argparse type: an int or float within [low, high] (or open at either end)."""
    low_sign, high_sign = ("more than" if low_open else "at least"), ("below" if high_open else "at most")

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a{'n integer' if kind is int else ' number'}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if low is not None and (value < low or (low_open and value == low)):
            raise argparse.ArgumentTypeError(f"must be {low_sign} {low}, got {text}")
        if high is not None and (value > high or (high_open and value == high)):
            raise argparse.ArgumentTypeError(f"must be {high_sign} {high}, got {text}")
        return value

    return parse


POSITIVE_INT = number(int, 1)
POSITIVE = number(float, 0, low_open=True)
NON_NEGATIVE = number(float, 0)
SCORE = number(float, 0, 1, low_open=True)  # 0 < x <= 1
SHARE = number(float, 0, 1)  # a weight between 0 and 1
UNIT_OPEN = number(float, 0, 1, high_open=True)  # 0 <= x < 1


def emotion_list(text: str) -> list[str] | None:
    """A --classes value such as 'angry,neutral,sad', as canonical names in canonical order."""
    try:
        return parse_classes(text)
    except MoodlensError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def option(default, help: str, **argparse_options) -> Field:
    """A dataclass field that is also a command-line option; `argparse_options` go to argparse's add_argument,
    except `positional=True` (an argument, not an option), `cli=False` (no option) and `flag` (another name)."""
    return field(default=default, metadata={"help": help, **argparse_options})


def add_options(parser: argparse.ArgumentParser, declared: type) -> None:
    """One option per field of the dataclass `declared`, with the field's default, type, bounds and help."""
    for f in fields(declared):
        meta = dict(f.metadata)
        if not meta.pop("cli", True):
            continue
        if meta.pop("positional", False):
            parser.add_argument(f.name, nargs=meta.pop("nargs", "?"), **meta)
            continue
        flag = meta.pop("flag", "--" + f.name.replace("_", "-"))
        parser.add_argument(flag, dest=f.name, default=f.default, **meta)


def options_from(args: argparse.Namespace, declared: type, **given):
    """The dataclass `declared` filled from parsed options (those made by `add_options`) and `given`."""
    made = {f.name: getattr(args, f.name) for f in fields(declared) if f.metadata.get("cli", True)}
    return declared(**made, **given)
