"""The trainer's error type."""


class TrainingError(RuntimeError):
    """A run that cannot start or continue; the message says why and what to do."""
