"""Benchmarks that print figures (not timed tests): run each with `python -m bench.<name>`."""
