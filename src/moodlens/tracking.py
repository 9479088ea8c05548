"""Following faces across video frames, so that people and not detections are counted."""

from __future__ import annotations

from dataclasses import dataclass

from .detection import iou


@dataclass
class Track:
    id: int
    box: tuple[int, int, int, int]
    missed: int = 0  # consecutive analysed frames without a match
    velocity: tuple[float, float] = (0.0, 0.0)  # pixels per analysed frame, from its last two matches

    def expected_box(self) -> tuple[int, int, int, int]:
        """Where the face should be now, had it kept moving as it did."""
        x, y, w, h = self.box
        steps = self.missed + 1
        return round(x + self.velocity[0] * steps), round(y + self.velocity[1] * steps), w, h

    def overlap(self, box: tuple[int, int, int, int]) -> float:
        """IoU with the last box or the expected one, whichever is higher (a jittery still face keeps its place)."""
        return max(iou(self.box, box), iou(self.expected_box(), box))

    def matched(self, box: tuple[int, int, int, int]) -> None:
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

    def update(self, boxes: list[tuple[int, int, int, int]]) -> list[int]:
        """The track id of each box of the new frame, in the order given."""
        pairs = sorted(
            ((t.overlap(b), ti, bi) for ti, t in enumerate(self.tracks) for bi, b in enumerate(boxes)), reverse=True
        )
        ids: list[int | None] = [None] * len(boxes)
        matched: set[int] = set()
        for overlap, ti, bi in pairs:
            if overlap < self.min_iou:
                break
            if ti in matched or ids[bi] is not None:
                continue
            matched.add(ti)
            ids[bi] = self.tracks[ti].id
            self.tracks[ti].matched(boxes[bi])
        for ti, track in enumerate(self.tracks):
            if ti not in matched:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        for bi, box in enumerate(boxes):
            if ids[bi] is None:
                ids[bi] = self.next_id
                self.tracks.append(Track(self.next_id, box))
                self.next_id += 1
        return [int(i) for i in ids]
