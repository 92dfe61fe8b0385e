"""JAX environments: the protocol, the Stackelberg POMDP and adapters."""
