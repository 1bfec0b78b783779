"""Tiny fake IMPROVE models and helpers for the engine's end-to-end tests."""
