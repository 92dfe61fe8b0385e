"""PettingZoo interop (needs the ``pettingzoo`` extra): import :mod:`.adapters` explicitly.

The package itself imports nothing optional, so ``robustmas.envs`` stays importable without
PettingZoo.
"""
