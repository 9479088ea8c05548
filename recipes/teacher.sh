#!/bin/sh
# A wider teacher for issue 14: `vgg` at width 64 trained from scratch on the FER+ votes alone (no muxspace
# photos, so that the photo folds its distilled students are scored on stay unseen), 40 epochs, resumed where
# it stopped when the script is started again. About 4 hours of both cores of a 2-core CPU without AMX
# (benchmarks/results/train_speed_no_amx.json); DEVICE=cuda on a GPU.
#
#   OMP_NUM_THREADS=2 nohup sh recipes/teacher.sh > runs/teacher-vgg64.log 2>&1 &
#   REPEAT=8 CONTROL=0 TEACHER=runs/teacher-vgg64 RUNS=runs/default-photos-t64 sh recipes/default_photos.sh
set -e
RUN=${RUN:-runs/teacher-vgg64}
MOODLENS=${MOODLENS:-.venv/bin/moodlens}
if [ -e "$RUN/last.pt" ]; then
    $MOODLENS train --resume "$RUN"
else
    $MOODLENS train ../shared/data/ferplus/FER2013Train --val ../shared/data/ferplus/FER2013Valid --votes \
        --model vgg --width 64 --epochs 40 --tta flip --device "${DEVICE:-auto}" --out "$RUN"
fi
