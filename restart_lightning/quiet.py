"""Warnings and notices the command line does not show: ours by design, or harmless here.

Each entry names what it hides and why it does not concern a user of this project.
"""

from __future__ import annotations

import logging
import warnings

HARMLESS_WARNINGS = (
    # The EMA copy of the denoiser is kept in eval mode on purpose (it is only used for sampling).
    r".*module\(s\) in eval mode at the start of training.*",
    # Raised by torch inside Lightning's own pytree helper; nothing a user can act on.
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",
    # A resumed run writes into a new version directory by design (its best-k tracking starts anew).
    r".*The dirpath has changed from .*",
)
# Only outside fit: evaluating a checkpoint does not restore its training callbacks' states.
EVALUATION_ONLY_WARNINGS = (r".*callbacks used to create the checkpoint need to be provided during `Trainer`.*",)
# Info lines of Lightning that advertise a service rather than report on the run.
ADVERTISEMENTS = ("💡 Tip:",)


class _DropAdvertisements(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(ADVERTISEMENTS)


def quiet_harmless_warnings(subcommand: str | None = None) -> None:
    messages = HARMLESS_WARNINGS + (EVALUATION_ONLY_WARNINGS if subcommand not in (None, "fit") else ())
    for message in messages:
        warnings.filterwarnings("ignore", message=message)
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropAdvertisements) for f in logger.filters):
            logger.addFilter(_DropAdvertisements())
