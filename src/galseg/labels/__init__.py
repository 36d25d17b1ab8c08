"""Crowd labels: what volunteers drew, and the maps and masks made from it."""
