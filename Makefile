# The README's two commands: `make demo` and `make test`. Both set up .venv/ first (idempotent).
SHELL := /bin/bash
VENV := .venv
ENV := source scripts/env.sh &&

.PHONY: setup demo test lint clean
setup:
	@bash scripts/setup.sh

demo: setup
	@$(ENV) $(VENV)/bin/python -m geodistill_ros demo $(ARGS)

test: setup
	@$(ENV) GEODISTILL_REQUIRE_ROS=1 $(VENV)/bin/python -m pytest $(ARGS)

lint: setup
	@$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) build install log *.egg-info
