"""Entry point: ``python main.py fit --config configs/toy.yaml`` (see README)."""

from restart_lightning.cli import main

if __name__ == "__main__":
    main()
