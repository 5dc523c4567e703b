"""Tests of the example task manager (examples/tasks)."""
