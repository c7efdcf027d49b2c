# Two commands on a fresh clone: `make run` (the main job) and `make test`. Both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Torch as it installs on these machines (a local CUDA build); elsewhere e.g. TORCH_SPEC="torch torchvision".
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed

.PHONY: install run test clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# naive and joint on the offline synthetic scenario, 3 seeds, then leaderboard.md.
run: $(STAMP)
	$(BIN)/dfcl run --scenario synthetic --strategy naive joint --detector smallcnn --seeds 0 1 2 \
		--force --leaderboard leaderboard.md

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache
