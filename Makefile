# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED ?= ../shared/data

.PHONY: demo test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Train a small model on FER-2013 for a few minutes, then evaluate it and write its report.
demo: $(STAMP)
	rm -rf runs/demo runs/demo-eval
	$(BIN)/moodlens train $(SHARED)/fer2013/train --val $(SHARED)/fer2013/val --model vgg --width 16 \
		--epochs 3 --out runs/demo
	$(BIN)/moodlens eval $(SHARED)/fer2013/val --model runs/demo --out runs/demo-eval

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks recipes
	$(BIN)/ruff format --check src tests benchmarks recipes

test: lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) runs
