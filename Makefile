# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED ?= ../shared/data

.PHONY: demo test test-quick lint clean peers crowd-peers system-packages

# Everything (every extra and the test tools), torch and ray at the versions of constraints.txt.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# Analyse a photo that ships with matplotlib (Grace Hopper, public domain) with the shipped model;
# score that model on FER-2013's PublicTest faces; then train a small model of your own on FER+ for a
# few minutes and evaluate it (each evaluation writes a report.html). `moodlens serve` starts the web page.
demo: $(STAMP)
	rm -rf runs/demo runs/demo-eval runs/demo-default runs/demo-analyze
	$(BIN)/moodlens analyze "$$($(BIN)/python -c 'import matplotlib.cbook as c; print(c.get_sample_data("grace_hopper.jpg", asfileobj=False))')" \
		--json runs/demo-analyze/faces.json --csv runs/demo-analyze/faces.csv --annotate runs/demo-analyze
	$(BIN)/moodlens eval $(SHARED)/fer2013/val --model default --tta flip --out runs/demo-default
	$(BIN)/moodlens train $(SHARED)/ferplus/FER2013Train --val $(SHARED)/ferplus/FER2013Valid --votes \
		--model vgg --width 16 --per-class 1500 --epochs 3 --out runs/demo
	$(BIN)/moodlens eval $(SHARED)/ferplus/FER2013Valid --model runs/demo --out runs/demo-eval

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks recipes
	$(BIN)/ruff format --check src tests benchmarks recipes

# What the tests need from Debian: Chromium for the page (Playwright's own browser download cannot work
# offline), a PostgreSQL server for sessions, and Xvfb for screen recording.
system-packages:
	command -v chromium >/dev/null && ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && command -v Xvfb >/dev/null \
		|| (apt-get update -qq && apt-get install -y -qq chromium postgresql xvfb)

# Two pytest workers (pytest-xdist): most tests wait on the processes, servers and files they start, so two
# use a 2-core machine better than one; each worker has its own fixtures (the tiny model, the PostgreSQL
# server) and its own free ports.
test: lint system-packages
	$(BIN)/pytest -n 2 --durations=25

# The development loop: no training, no browser, no database server (pyproject.toml's markers); under 2 minutes.
test-quick: lint system-packages
	$(BIN)/pytest -n 2 -m "not slow and not browser and not postgres" -q --durations=10

# The peer packages compared in benchmarks/analyze_speed.py, in a venv of their own.
peers:
	$(PYTHON) -m venv .venv-peers
	.venv-peers/bin/pip install --quiet -r benchmarks/peers-requirements.txt

# The peer face detectors compared in benchmarks/crowd_detection.py.
crowd-peers: $(STAMP)
	$(BIN)/pip install --quiet --no-deps -r benchmarks/crowd-peers-requirements.txt

clean:
	rm -rf $(VENV) .venv-peers runs
