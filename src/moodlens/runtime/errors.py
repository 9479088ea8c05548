"""The one base of the errors a user can cause and fix: a bad file, option, data set, database or source."""

from __future__ import annotations


class MoodlensError(Exception):
    """What was asked cannot be done as asked; the message says why in one line. The CLI prints it as
    `moodlens: error: ...` (exit status 2), the server answers it as JSON; any other exception is a bug and
    keeps its traceback."""
