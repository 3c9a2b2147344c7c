"""The project's exception tree. Every message says what to do next.

    EHMError                    base; carries the CLI exit code
    ├── ConfigError             bad or unknown config key, unreadable config file      (exit 2)
    ├── InputError              bad path, unreadable input file                        (exit 3)
    ├── DatabaseError           unreachable or unmigrated database                     (exit 4)
    ├── PlanError               unreadable or invalid tracking plan                    (exit 5)
    ├── CustomerIOError         Customer.io API refused or failed                      (exit 6)
    │   └── AuthError           App API key rejected (401 / 403)
    └── DeliveryError           an alert sink failed; ``retryable`` says whether to retry (exit 7)
"""

from __future__ import annotations


class EHMError(Exception):
    """Base of all errors the CLI reports without a traceback."""

    exit_code = 1


class ConfigError(EHMError):
    """The configuration is invalid or cannot be read."""

    exit_code = 2


class InputError(EHMError):
    """An input path does not exist or cannot be read."""

    exit_code = 3


class DatabaseError(EHMError):
    """The metric store cannot be reached or is not migrated."""

    exit_code = 4


class PlanError(EHMError):
    """The tracking plan cannot be read or is invalid."""

    exit_code = 5


class CustomerIOError(EHMError):
    """A Customer.io API call failed."""

    exit_code = 6


class AuthError(CustomerIOError):
    """Customer.io rejected the credentials."""


class DeliveryError(EHMError):
    """An alert could not be delivered; ``retryable`` tells the dispatcher whether to try again."""

    exit_code = 7

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
