#!/bin/sh
# Fine-tune the shipped `ferplus` model on FER+ votes plus the muxspace photos cut by our detector
# (issue 14). First a 4-fold cross-validation on the photos (each fold's model never saw its
# validation photos) and a control run without photos, to measure what the photos add; then the
# model trained on all photos. Every run resumes where it stopped when the script is started again.
# REPEAT sets how often each photo is seen per epoch (4); CONTROL=0 skips the control run; EXTRA adds
# training options to every run (e.g. EXTRA="--balance weights"); CV=0 skips the folds (when they were
# scored already) and trains only the model on all photos; ALL=0 trains the folds alone (to measure a shipped
# model's confusions out of fold, issue 28). TEACHER distils a trained model into every run:
# the model on all photos runs first and keeps the teacher's predictions for all faces, which the
# control and the folds then distil from (the teacher is run once, and never saw a muxspace photo).
# SURROUND=N also trains on each training photo rendered N times in other surroundings (issue 24,
# recipes/surroundings.py; the renderings are kept beside the folds and made once); SURROUND_MARGINS=flat,blur,crowd
# renders them on kinds of surroundings the shift suite never reads (default: grey,noise,crowd, as session 14).
# INIT names the trained model every run starts from (default: the shipped `ferplus`), e.g. an ImageNet-started
# network fine-tuned on FER+ (issue 24): INIT=runs/effl/ferplus EXTRA="--image-size 64".
# A committed prediction file goes in EXTRA instead, e.g. with the photos kept to their own labels:
#   EXTRA="--teacher benchmarks/results/training/default-photos-t64/all/teacher_probs.npz --photos-teacher-weight 0"
#
#   OMP_NUM_THREADS=2 nohup sh recipes/default_photos.sh > runs/default-photos.log 2>&1 &
#   python benchmarks/suite.py --cv runs/default-photos --out suite_cv.json   # scores the folds on their photos
set -e
RUNS=${RUNS:-runs/default-photos}
FOLDS=${FOLDS:-$HOME/.cache/moodlens/muxspace-folds}
MOODLENS=${MOODLENS:-.venv/bin/moodlens}
REPEAT=${REPEAT:-4}
SURROUND=${SURROUND:-0}
INIT=${INIT:-ferplus}
SUITE_MARGINS=grey,noise,crowd  # the shift suite's kinds, what session 14 trained on (renderings' folder: no suffix)
SURROUND_MARGINS=${SURROUND_MARGINS:-$SUITE_MARGINS}
.venv/bin/python recipes/muxspace_folds.py --out "$FOLDS" --folds 4

# "--photos DIR" of photo set $1 rendered $SURROUND times in other surroundings, or nothing when SURROUND=0
surround() {
    [ "$SURROUND" = 0 ] && return
    kinds=$([ "$SURROUND_MARGINS" = "$SUITE_MARGINS" ] || echo "-$SURROUND_MARGINS" | tr , -)
    out="$FOLDS/surround$SURROUND$kinds-$2"
    [ -e "$out/legend.csv" ] || .venv/bin/python recipes/surroundings.py "$1" --out "$out" --copies "$SURROUND" \
        --margins "$SURROUND_MARGINS" >&2
    echo "--photos $out"
}

run() {
    name=$1
    shift
    if [ -e "$RUNS/$name/last.pt" ]; then
        $MOODLENS train --resume "$RUNS/$name"
    else
        $MOODLENS train ../shared/data/ferplus/FER2013Train --val ../shared/data/ferplus/FER2013Valid --votes \
            --init "$INIT" --epochs 5 --lr 0.01 --tta flip --out "$RUNS/$name" "$@" $EXTRA
    fi
}

if [ -n "$TEACHER" ]; then
    run all --photos ../shared/data/muxspace --photos-repeat "$REPEAT" --teacher "$TEACHER"
    TAUGHT="--teacher $RUNS/all/teacher_probs.npz"
fi
[ "${CONTROL:-1}" = 0 ] || run control $TAUGHT
[ "${CV:-1}" = 0 ] || for fold in 0 1 2 3; do
    rendered=$(surround "$FOLDS/fold$fold/train" "fold$fold")
    run "fold$fold" --photos "$FOLDS/fold$fold/train" $rendered --photos-repeat "$REPEAT" $TAUGHT
done
if [ -z "$TEACHER" ] && [ "${ALL:-1}" != 0 ]; then
    rendered=$(surround ../shared/data/muxspace all)
    run all --photos ../shared/data/muxspace $rendered --photos-repeat "$REPEAT"
fi
