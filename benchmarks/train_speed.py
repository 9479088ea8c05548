"""Training throughput (images/s) of every registered model in fp32 and bf16 on this machine.

    python benchmarks/train_speed.py [--data ../shared/data/fer2013/train] [--out benchmarks/results/train_speed.json]

Each measurement runs full training steps (augmentation, forward, loss, backward, SGD update) on real
FER-2013 faces, after warm-up steps, with the thread count torch picks (both cores here).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from moodlens.data.faces import load_dataset
from moodlens.runtime.hardware import amx_supported
from moodlens.training.inference import bf16_supported
from moodlens.training.loop import train_step
from moodlens.training.models import MODELS, ModelConfig, count_parameters, create_model, mflops_per_face
from moodlens.training.transforms import AugmentConfig, augment, to_tensor


def measure(name: str, precision: str, faces: np.ndarray, batch: int, steps: int, warmup: int) -> float:
    torch.manual_seed(0)
    model = create_model(ModelConfig(name, num_classes=7)).to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    generator = torch.Generator().manual_seed(0)
    targets = torch.eye(7)[torch.randint(0, 7, (batch,), generator=generator)]
    start = 0.0
    for step in range(warmup + steps):
        if step == warmup:
            start = time.perf_counter()
        idx = np.arange(step * batch, (step + 1) * batch) % len(faces)
        x = augment(to_tensor(faces[idx]), AugmentConfig(), generator)
        train_step(model, optimizer, x, targets, precision)
    return steps * batch / (time.perf_counter() - start)


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/fer2013/train")
    parser.add_argument("--out", default="benchmarks/results/train_speed.json")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    faces = load_dataset(args.data, per_class=400).images
    precisions = ["fp32", "bf16"] if bf16_supported() else ["fp32"]
    rows = []
    for name in sorted(MODELS):
        cfg = ModelConfig(name, num_classes=7)
        model = create_model(cfg)
        row = {
            "model": name,
            "width": cfg.width,
            "params": count_parameters(model),
            "mflops_per_face": round(mflops_per_face(model, cfg), 1),
        }
        for precision in precisions:
            row[f"{precision}_images_per_s"] = round(
                measure(name, precision, faces, args.batch, args.steps, args.warmup), 1
            )
        print(row, flush=True)
        rows.append(row)
    result = {
        "benchmark": f"training images/s, batch {args.batch}, {args.steps} timed steps after {args.warmup} warm-up",
        "machine": {
            "cpu": cpu_name(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "bf16_native": bf16_supported(),
            "amx": amx_supported(),
        },
        "results": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
