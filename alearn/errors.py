"""Exceptions raised by alearn."""

from __future__ import annotations

from ase.calculators.calculator import CalculationFailed


class AlearnError(Exception):
    """Base class of alearn's own errors."""


class ConfigError(AlearnError, ValueError):
    """Bad user input: a config file, key or structure. The message says what to do."""


class LabelFailed(AlearnError, CalculationFailed):
    """A reference calculation failed; ``reason`` is stored in the dataset.

    Parameters
    ----------
    reason
        Short human-readable cause (e.g. ``"SCF not converged after 3 attempts"``).
    attempts
        One dict per attempt (settings tried and their outcome).
    log_text
        Output of the reference code, if any, kept for inspection.
    """

    def __init__(self, reason: str, *, attempts: list[dict] | None = None,
                 log_text: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts or []
        self.log_text = log_text


class CampaignStopped(AlearnError):
    """The campaign cannot go on (too many failed labels, ...); the message says why."""


class CampaignInterrupted(KeyboardInterrupt):
    """The campaign was stopped by a signal (SIGTERM, SIGINT); it can be resumed.

    A :class:`KeyboardInterrupt`, so that no ``except Exception`` on the way
    (e.g. around a reference calculation) mistakes the stop for a failure.
    """

    def __init__(self, signal_name: str) -> None:
        super().__init__(f"stopped by {signal_name}")
        self.signal_name = signal_name
