"""Prefect flows: plain Python chaining the tasks in tasks/. Importing them has no side effects."""
