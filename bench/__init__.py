"""The org-agents benchmark: `uv run python -m bench` (see bench/cli.py). Results go to bench/results/."""
