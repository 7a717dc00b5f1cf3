"""``python -m restart_lightning fit --config toy.yaml``: the same command line as ``restart-lightning``."""

from restart_lightning.cli import main

if __name__ == "__main__":
    main()
