"""Faces set in other surroundings (data.surroundings): the renderings the shift suite reads and training can add."""

import numpy as np
import pytest

from moodlens.data.surroundings import EVERY_MARGIN, in_surroundings
from moodlens.runtime.imaging import read_image

from conftest import COUPLE, SHARED


@pytest.mark.parametrize("margin", EVERY_MARGIN)
@pytest.mark.parametrize("width", [24, 96])
def test_the_face_is_found_again_in_the_middle_at_its_new_width(analyzer, margin, width):
    photo = read_image(COUPLE)
    face = max(analyzer.analyze(photo).faces, key=lambda f: f.box[2])
    backdrop = read_image(next((SHARED / "crowds" / "wider416" / "images").iterdir()))
    image = in_surroundings(photo, face.box, width, margin, backdrop, np.random.default_rng(0))
    assert image.shape == (3 * width, 3 * width, 3) and image.dtype == np.uint8
    found = analyzer.analyze(image).faces
    middle = min(
        found, key=lambda f: abs(f.box[0] + f.box[2] / 2 - 1.5 * width) + abs(f.box[1] + f.box[3] / 2 - 1.5 * width)
    )
    assert abs(middle.box[0] + middle.box[2] / 2 - 1.5 * width) < width / 2
    assert 0.6 * width <= middle.box[2] <= 1.5 * width


def test_an_unknown_kind_of_surroundings_is_refused():
    photo = read_image(COUPLE)
    with pytest.raises(ValueError, match="margin must be one of"):
        in_surroundings(photo, (10, 10, 50, 50), 32, "stripes", photo, np.random.default_rng(0))
