"""Experiments: presets, the run store and reports."""
