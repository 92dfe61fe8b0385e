"""``python -m robustmas.cli ...``: the ``robustmas`` command line."""

from robustmas.cli.app import main

if __name__ == "__main__":
    main()
