"""The papers' algorithms built on the learning core."""
