import sys
from pathlib import Path

import pytest

from moodlens.data.cleaning import sharpness
from moodlens.data.faces import load_dataset

from conftest import FER_TRAIN, SHARED

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes"))
import fer2013_sharp

pytestmark = pytest.mark.slow


def test_blurred_fer2013_faces_find_their_sharp_ferplus_twins():
    blurred = load_dataset(FER_TRAIN, per_class=15)
    sharp = load_dataset(SHARED / "ferplus" / "FER2013Train")
    twin, best_mse, _ = fer2013_sharp.match(blurred.images, sharp.images)
    found = best_mse < fer2013_sharp.MAX_MSE
    assert found.mean() > 0.9
    # a twin is the same face, sharp: blurring it the recipe's way reproduces the blurred face
    assert (sharpness(sharp.images[twin[found]]) > 50 * sharpness(blurred.images[found])).mean() > 0.9
    # FER+ annotators agree with FER-2013's label on about 60 % of faces; random pairings would agree on ~20 %
    assert (sharp.labels[twin[found]] == blurred.labels[found]).mean() > 0.45
