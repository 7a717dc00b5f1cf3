"""restart-lightning: train EDM-preconditioned denoisers and compare Restart, ODE and SDE samplers."""

__version__ = "0.1.0"
