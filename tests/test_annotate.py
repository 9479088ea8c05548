"""Annotated pictures a person can read: nothing drawn covers another face, text scales with the photo."""

import cv2
import numpy as np
import pytest

from moodlens.runtime.annotate import Style, annotate, inside, layout, overlaps
from moodlens.runtime.crowd import crowd_summary
from moodlens.runtime.imaging import read_image

from conftest import SELFIE, SHARED

CROWD = SHARED / "faces" / "dlib" / "bald_guys.jpg"


@pytest.mark.parametrize("photo, zoom", [(CROWD, 1), (SELFIE, 1), (SELFIE, 7)])
def test_labels_and_bars_cover_no_other_face_and_stay_in_the_picture(analyzer, photo, zoom):
    image = read_image(photo)
    image = cv2.resize(image, None, fx=zoom, fy=zoom) if zoom > 1 else image
    faces = analyzer.analyze(image).faces
    height, width = image.shape[:2]
    style = Style.for_image(width, height)
    assert style.line >= max(width, height) / 70 - 1  # about 60 px lines on a 4,200 px photo
    placements = layout(faces, width, height, style)
    labels = [p.label if not p.label_covers else None for p in placements]
    drawn = [
        (i, rect)
        for i, (p, label) in enumerate(zip(placements, labels, strict=True))
        for rect in (label, p.bars)
        if rect
    ]
    assert sum(label is not None for label in labels) >= len(faces) // 2
    for i, rect in drawn:
        assert rect[0] >= 0 and rect[1] >= 0 and rect[0] + rect[2] <= width and rect[1] + rect[3] <= height
        others = [tuple(f.box) for j, f in enumerate(faces) if j != i] + [
            p.number for j, p in enumerate(placements) if j != i
        ]
        others += [r for j, r in drawn if r is not rect]
        assert not any(overlaps(rect, other) for other in others), (i, rect)
    assert all(p.label is None and p.bars is None for p, f in zip(placements, faces, strict=True) if not f.readable)
    for p in placements:  # a label with no free spot keeps one inside the picture, for a face picked out
        assert p.label is None or inside(p.label, width, height)
    drawn_image = annotate(image, faces, crowd_summary(faces, analyzer.labels, analyzer.calibration))
    assert np.abs(drawn_image[:height].astype(int) - image).mean() > 1
    # the legend and mood panel under the picture: as tall for any faces, so every video frame has one size
    assert drawn_image.shape == annotate(image, [], crowd_summary([], analyzer.labels)).shape
    assert drawn_image.shape[0] - height >= 3 * style.line and drawn_image.shape[1] == width
