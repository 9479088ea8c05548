"""The crowd pass: small faces in real crowd photos are found, ordinary photos cost one pass as before."""

import csv
import itertools
from collections import defaultdict

import cv2
import numpy as np
import pytest

from moodlens.evaluation.boxes import matched_pairs
from moodlens.runtime.detection import inside_larger_faces, load_detector, resized_for_network, tile_grid
from moodlens.runtime.imaging import read_image

from conftest import SHARED

WIDER = SHARED / "crowds" / "wider416"


def crowd_photos(count: int) -> dict[str, list]:
    truth = defaultdict(list)
    with open(WIDER / "boxes.csv") as f:
        for row in csv.DictReader(f):
            truth[row["image"]].append(tuple(float(row[k]) for k in "xywh"))
    crowded = sorted(truth, key=lambda name: -sum(box[2] >= 8 for box in truth[name]))
    return {name: truth[name] for name in crowded[:count]}


def test_the_crowd_pass_finds_small_faces_the_first_pass_cannot_see():
    one_pass, crowd = load_detector("centerface", crowd="off", threads=1), load_detector("centerface", threads=1)
    found = {"off": 0, "auto": 0}
    faces = 0
    for name, boxes in crowd_photos(6).items():
        image = read_image(WIDER / "images" / name)
        visible = [box for box in boxes if box[2] >= 8]
        faces += len(visible)
        found["off"] += len(matched_pairs(visible, [d.box for d in one_pass.detect(image)]))
        found["auto"] += len(matched_pairs(visible, [d.box for d in crowd.detect(image)]))
    assert found["auto"] >= 1.5 * found["off"] and found["auto"] >= 0.5 * faces, (found, faces)


@pytest.mark.parametrize("still", [True, False])
def test_an_ordinary_photo_or_frame_gets_one_pass_and_the_same_faces(still):
    photo = read_image(SHARED / "faces" / "deepface" / "selfie-many-people.jpg")
    detector = load_detector("centerface", threads=1)
    net_h, net_w = detector.network_size(*photo.shape[:2])
    first = detector.pass_at(photo, net_w, net_h, detector.CROWD_HINT)
    assert not detector.wants_crowd_pass(first, net_w / photo.shape[1], max(photo.shape[:2]), still)
    one_pass = load_detector("centerface", crowd="off", threads=1)
    assert detector.detect(photo, still) == one_pass.detect(photo, still)


def test_tiles_cover_the_image_overlap_and_keep_to_the_networks_stride():
    for length in (100, 1024, 1025, 1986, 3000, 4000, 10_000):
        starts, size = tile_grid(length, 1024, 96)
        assert starts[0] == 0 and starts[-1] + size >= length and size <= 1024
        assert all(b - a <= size - 96 for a, b in itertools.pairwise(starts))
        assert all(start % 32 == 0 for start in starts) and (len(starts) == 1 or size % 32 == 0)
    assert tile_grid(4000, 1024, 96) == ([0, 768, 1536, 2304, 3104], 896)  # 20 tiles of 896 x 864, not 20 of 1024
    image = np.zeros((3000, 4000, 3), np.uint8)
    assert load_detector("centerface", crowd="on", threads=1).detect(image) == []


def test_a_still_crowd_the_first_pass_misses_gets_the_crowd_pass_and_a_video_frame_does_not():
    crowd = read_image(WIDER / "images" / "2_Demonstration_Protesters_2_531.jpg")  # 473 boxed faces, most tiny
    detector = load_detector("centerface", threads=1)
    one_pass = load_detector("centerface", crowd="off", threads=1).detect(crowd)
    assert one_pass == []  # at 320 px the first pass sees no face
    assert detector.detect(crowd, still=False) == []
    assert len(detector.detect(crowd, still=True)) >= 40


def test_a_large_still_photo_is_searched_at_its_own_resolution():
    large = cv2.resize(read_image(SHARED / "faces" / "deepface" / "selfie-many-people.jpg"), None, fx=3, fy=3)
    detector = load_detector("centerface", threads=1)
    net_h, net_w = detector.network_size(*large.shape[:2])
    first = detector.pass_at(large, net_w, net_h, detector.CROWD_HINT)
    scale, side = net_w / large.shape[1], max(large.shape[:2])
    assert detector.wants_crowd_pass(first, scale, side, still=True)
    assert not detector.wants_crowd_pass(first, scale, side, still=False)


def test_parts_of_big_faces_seen_at_full_resolution_are_not_taken_for_faces():
    couple = read_image(SHARED / "faces" / "deepface" / "couple.jpg")  # 2280 px wide: the crowd pass runs
    assert len(load_detector("centerface", threads=1).detect(couple)) == 2
    boxes = np.array([[100, 100, 600, 800], [200, 300, 380, 370], [650, 100, 300, 300], [940, 380, 40, 40]], float)
    # the second lies inside the first; the fourth only touches the third, a neighbour, not a part
    assert inside_larger_faces(boxes).tolist() == [False, True, False, False]
    # bald_guys.jpg's face 3 and a box over its mouth and chin, 0.8 times as wide but a third of its height
    assert inside_larger_faces(np.array([[558, 385, 175, 250], [570, 519, 144, 88]], float)).tolist() == [False, True]


def test_a_large_photo_of_big_faces_is_searched_coarser_and_finds_what_full_resolution_finds():
    photo = read_image(SHARED / "faces" / "dlib" / "bald_guys.jpg")  # 1986 x 1545, 25 faces of 41 to 270 px
    detector = load_detector("centerface", threads=1)
    height, width = photo.shape[:2]
    net_h, net_w = detector.network_size(height, width)
    first = detector.pass_at(photo, net_w, net_h, detector.CROWD_HINT)
    assert detector.coarse_scale(first, max(height, width)) == 0.5  # one tile instead of nine
    full = detector.merged([first[first[:, 4] > detector.threshold], detector.tiled_pass(photo, 1)], width, height)
    found = detector.detect(photo)
    assert len(found) == len(full) == 25
    assert len(matched_pairs([d.box for d in full], [d.box for d in found])) == 25


def test_an_image_shrunk_for_the_network_keeps_its_faces_where_they_are():
    """Shrinking by whole blocks first (resized_for_network) leaves out at most a block's last rows and columns;
    the boxes found in a 3.3 times enlarged selfie map back onto those found in the selfie itself."""
    photo = read_image(SHARED / "faces" / "deepface" / "selfie-many-people.jpg")
    frame = cv2.resize(photo[:480, :600], (640, 480))
    halved, sx, sy = resized_for_network(frame, 320, 240)  # a whole factor of 2: INTER_AREA itself
    assert (sx, sy) == (0.5, 0.5) and np.array_equal(
        halved, cv2.resize(frame, (320, 240), interpolation=cv2.INTER_AREA)
    )
    wide = photo[60:460]  # 600x400: a swapped x and y scale would show
    large = cv2.resize(wide, None, fx=3.3, fy=3.3, interpolation=cv2.INTER_CUBIC)
    shrunk, sx, sy = resized_for_network(large, 320, 224)
    assert shrunk.shape == (224, 320, 3) and (sx, sy) == pytest.approx((320 / 1980, 224 / 1320), rel=0.01)
    detector = load_detector("centerface", crowd="off", threads=1)
    small = [d.box for d in detector.detect(wide)]
    enlarged = [tuple(v / 3.3 for v in d.box) for d in detector.detect(large)]
    pairs = matched_pairs(small, enlarged, min_iou=0.7)
    assert len(small) >= 5 and len(pairs) == len(small), (small, enlarged)
