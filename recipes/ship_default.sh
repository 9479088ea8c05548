#!/bin/sh
# Ships a cross-validated photo run (recipes/default_photos.sh) as `default`, then measures it as the
# README and the model card report it: the fold models exported to ONNX (the out-of-fold readings),
# the final model shipped, its calibration fitted out of fold, the suite, the shift suite, the crowds,
# the kinds of faces, the readable width and the accuracy tables of every shipped model.
#   RUN=runs/default-photos-r8u sh recipes/ship_default.sh      (issue 24, session 14)
#   RUN=runs/default-photos-r8l sh recipes/ship_default.sh      (issue 24, session 18: --low-res 0.25)
set -ex
RUN=${RUN:-runs/default-photos-r8l}
for k in 0 1 2 3; do
    [ -e "$RUN/onnx/fold$k.onnx" ] || .venv/bin/moodlens export "$RUN/fold$k" --out "$RUN/onnx/fold$k.onnx" --data ../shared/data/ferplus/FER2013Valid --no-int8
done
.venv/bin/python recipes/ship_model.py "$RUN/all" default --data ../shared/data/ferplus/FER2013Valid --calibration ../shared/data/ferplus/FER2013Train
.venv/bin/python recipes/calibrate_shipped.py default --folds "$RUN/onnx"
.venv/bin/python benchmarks/suite.py default --cv "$RUN" --out "benchmarks/results/suite_photos_$(basename "$RUN" | sed 's/default-photos-//').json"
.venv/bin/python benchmarks/shift_suite.py --model default --folds "$RUN/onnx" --out benchmarks/results/shift_suite_default_oof.json
.venv/bin/python benchmarks/crowd_mood.py --model default --folds "$RUN/onnx" --crowds 200 --sizes 100,30,10,3 --grids 300 --splits 5 --quapy --out benchmarks/results/crowd_mood_default_oof.json
.venv/bin/python benchmarks/confusion_transfer.py --model default --folds "$RUN/onnx" --out benchmarks/results/confusion_transfer.json
.venv/bin/python benchmarks/crowd_kinds.py --out benchmarks/results/crowd_kinds.json
.venv/bin/python benchmarks/readable_size.py
.venv/bin/python benchmarks/accuracy.py
