"""Following faces across video frames, so that people and not detections are counted."""

from __future__ import annotations

from dataclasses import dataclass

from .detection import iou


@dataclass
class Track:
    id: int
    box: tuple[int, int, int, int]
    missed: int = 0  # consecutive analysed frames without a match


class IouTracker:
    """Greedy frame-to-frame matching by box overlap, highest IoU first.

    A face keeps its id while it overlaps its previous box by at least `min_iou`; a track survives
    `max_missed` analysed frames without a match (a blink of the detector, a turned head).
    Overlap alone is enough at the frame rates we sample: faces move little between frames.
    """

    def __init__(self, min_iou: float = 0.3, max_missed: int = 15):
        self.min_iou, self.max_missed = min_iou, max_missed
        self.tracks: list[Track] = []
        self.next_id = 1

    def update(self, boxes: list[tuple[int, int, int, int]]) -> list[int]:
        """The track id of each box of the new frame, in the order given."""
        pairs = sorted(
            ((iou(t.box, b), ti, bi) for ti, t in enumerate(self.tracks) for bi, b in enumerate(boxes)), reverse=True
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
            self.tracks[ti].box, self.tracks[ti].missed = boxes[bi], 0
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
