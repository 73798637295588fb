"""The org-agents benchmark: `uv run python -m bench` (bench/README.md)."""
