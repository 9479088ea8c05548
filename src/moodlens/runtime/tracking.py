"""Following faces across video frames, so that people and not detections are counted."""

from __future__ import annotations

from dataclasses import dataclass

from moodlens.runtime.boxes import Box, greedy_matches, iou
from moodlens.runtime.results import Face


@dataclass
class Track:
    id: int
    box: Box
    missed: int = 0  # consecutive analysed frames without a match
    velocity: tuple[float, float] = (0.0, 0.0)  # pixels per analysed frame, from its last two matches

    def expected_box(self) -> Box:
        """Where the face should be now, had it kept moving as it did."""
        x, y, w, h = self.box
        steps = self.missed + 1
        return round(x + self.velocity[0] * steps), round(y + self.velocity[1] * steps), w, h

    def overlap(self, box: Box) -> float:
        """IoU with the last box or the expected one, whichever is higher (a jittery still face keeps its place)."""
        return max(iou(self.box, box), iou(self.expected_box(), box))

    def matched(self, box: Box) -> None:
        steps = self.missed + 1
        self.velocity = ((box[0] - self.box[0]) / steps, (box[1] - self.box[1]) / steps)
        self.box, self.missed = box, 0


class IouTracker:
    """Greedy frame-to-frame matching by box overlap, highest IoU first.

    A face keeps its id while it overlaps its last box, or the box where its track is expected (the last one
    moved on at its last velocity), by at least `min_iou`; a track survives `max_missed` analysed frames without a match
    (a blink of the detector, a turned head), so a face that keeps moving while unseen is found again.
    """

    def __init__(self, min_iou: float = 0.3, max_missed: int = 15):
        self.min_iou, self.max_missed = min_iou, max_missed
        self.tracks: list[Track] = []
        self.next_id = 1

    def update(self, boxes: list[Box]) -> list[int]:
        """The track id of each box of the new frame, in the order given."""
        matches = greedy_matches(boxes, self.tracks, lambda box, track: track.overlap(box), self.min_iou)
        ids = [self.tracks[matches[bi]].id if bi in matches else 0 for bi in range(len(boxes))]
        for bi, ti in matches.items():
            self.tracks[ti].matched(boxes[bi])
        matched = set(matches.values())
        for ti, track in enumerate(self.tracks):
            if ti not in matched:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        for bi, box in enumerate(boxes):
            if bi not in matches:
                ids[bi] = self.next_id
                self.tracks.append(Track(self.next_id, box))
                self.next_id += 1
        return ids

    def assign(self, faces: list[Face]) -> None:
        """Give each face of the new frame its track id."""
        for face, track in zip(faces, self.update([face.box for face in faces]), strict=True):
            face.track = track
