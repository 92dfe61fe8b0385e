"""The Stackelberg POMDP: environment and settings."""
