"""JAX environments: the protocol, its conformance check, the Stackelberg POMDP and adapters."""

from robustmas.envs.check import EnvCheckError, check_env

__all__ = ["EnvCheckError", "check_env"]
