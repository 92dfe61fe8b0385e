"""robustmas: policies that hold up against strategic, boundedly rational and adversarial agents."""

__version__ = "0.1.0"
