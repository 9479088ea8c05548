"""Build a sharp FER-2013 training set: FER+'s copies of the faces carrying FER-2013's own labels.

The FER-2013 training split in ../shared is blurred (median Laplacian variance about 6, against about
2,000 for its PublicTest split and for FER+; `moodlens train` warns about it). A model trained on it
fails on sharp faces. FER+ holds the same 48x48 faces, sharp. This script finds, for every blurred
FER-2013 face, its sharp FER+ twin (nearest neighbour of a Gaussian-blurred FER+ face, accepted
when its pixel error is that of a twin; a close runner-up is a near-duplicate face in FER+) and
writes a class-folder tree of symlinks:

    python recipes/fer2013_sharp.py --out ~/.cache/moodlens/fer2013-sharp

Nothing is copied: the tree links into ../shared, and matches.csv records every pairing.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from moodlens.data.cleaning import thumbnails
from moodlens.data.faces import decode_face, load_dataset
from moodlens.data.labels import EMOTIONS

BLUR_SIGMA = 3.5  # the blur that best maps FER+ faces onto the blurred FER-2013 ones (lowest matching error)
CANDIDATES = 5  # nearest faces by thumbnail that are compared pixel by pixel
THUMBNAIL_SIDE = 12
MAX_MSE = 150.0  # twins score 5-80; unrelated faces 250 and more


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = int(3 * sigma) + 1
    kernel = torch.exp(-(torch.arange(-radius, radius + 1).float() ** 2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))


def match(blurred: np.ndarray, sharp: np.ndarray, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each blurred face: index of its sharp twin, its pixel MSE and the runner-up's MSE."""
    target = torch.from_numpy(blurred[..., 0]).float().unsqueeze(1)
    candidates = gaussian_blur(torch.from_numpy(sharp[..., 0]).float().unsqueeze(1), BLUR_SIGMA)
    candidate_thumbs = torch.from_numpy(thumbnails(candidates.permute(0, 2, 3, 1).numpy(), THUMBNAIL_SIDE))
    best, best_mse, second_mse = [], [], []
    for start in range(0, len(target), chunk):
        faces = target[start : start + chunk]
        thumbs = torch.from_numpy(thumbnails(blurred[start : start + chunk], THUMBNAIL_SIDE))
        top = (thumbs @ candidate_thumbs.T).topk(CANDIDATES, dim=1).indices
        mse = ((faces - candidates[top].squeeze(2)) ** 2).mean((2, 3))
        mse, order = mse.sort(dim=1)
        best.append(top.gather(1, order)[:, 0])
        best_mse.append(mse[:, 0])
        second_mse.append(mse[:, 1])
    return torch.cat(best).numpy(), torch.cat(best_mse).numpy(), torch.cat(second_mse).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fer2013", default="../shared/data/fer2013/train")
    parser.add_argument("--ferplus", default="../shared/data/ferplus/FER2013Train")
    parser.add_argument("--out", type=Path, default=Path.home() / ".cache" / "moodlens" / "fer2013-sharp")
    parser.add_argument("--summary", type=Path, help="also write the matching summary (JSON) here")
    args = parser.parse_args()
    blurred = load_dataset(args.fer2013)
    sharp_dir = Path(args.ferplus)
    sharp_files = sorted(p for p in sharp_dir.iterdir() if p.suffix == ".png")
    sharp = load_dataset(sharp_dir)  # FER+ reader: only faces with a usable majority vote
    # also match FER+ faces whose majority was unknown/NF: FER-2013 still labels them
    extra = sorted(set(map(str, sharp_files)) - set(sharp.keys))
    sharp_keys = sharp.keys + extra
    sharp_images = sharp.images
    if extra:
        sharp_images = np.concatenate(
            [sharp.images, np.stack([decode_face(Path(p).read_bytes(), 48, 1) for p in extra])]
        )
    twin, best_mse, second_mse = match(blurred.images, sharp_images)
    accepted = best_mse < MAX_MSE
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "matches.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["fer2013", "ferplus", "label", "mse", "runner_up_mse", "accepted"])
        for i, key in enumerate(blurred.keys):
            label = EMOTIONS[blurred.labels[i]]
            writer.writerow(
                [key, sharp_keys[twin[i]], label, f"{best_mse[i]:.1f}", f"{second_mse[i]:.1f}", accepted[i]]
            )
            if accepted[i]:
                link = args.out / label / f"{Path(key).stem}.png"
                link.parent.mkdir(exist_ok=True)
                if not link.exists():
                    os.symlink(Path(sharp_keys[twin[i]]).resolve(), link)
    with_vote = accepted & (twin < len(sharp))  # twins whose FER+ majority is an emotion
    agreement = float((sharp.labels[twin[with_vote]] == blurred.labels[with_vote]).mean())
    summary = {
        "faces": len(accepted),
        "matched": int(accepted.sum()),
        "ferplus_majority_agrees": agreement,
        "median_match_mse": float(np.median(best_mse[accepted])),
        "tree": str(args.out),
    }
    print(json.dumps(summary, indent=2))
    if args.summary:
        args.summary.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
