"""Evaluation metrics: pure functions beside the code that calls them."""
