"""Every failure leaves an activity as an ApplicationError typed with the taxonomy's ``kind``.

``non_retryable`` comes from the error itself (business answers are final, glitches are not),
and the details carry ``EsimError.to_dict()`` so the workflow ends with the OpenHarmony and
Windows outcome the protocol library chose. Messages are the taxonomy's, which never contain a
matching ID or confirmation code; the payload codec encrypts them on the way to Temporal.
"""
from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import TypeVar

from temporalio.exceptions import ApplicationError, TemporalError

from sgp22.errors import EsimError

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable)


def to_application_error(error: EsimError) -> ApplicationError:
    return ApplicationError(error.message, error.to_dict(), type=error.kind, non_retryable=not error.retryable)


def unexpected_error(error: Exception) -> ApplicationError:
    """A bug or an unforeseen library failure: retryable (the next attempt may run on a fixed
    worker), typed so it is easy to find, and without the exception text (it may quote data)."""
    log.exception("unexpected failure in an activity")
    return ApplicationError(f"internal error ({type(error).__name__})", type="engine.internal")


def esim_errors_as_application_errors(function: F) -> F:
    """Wrap an activity (sync or async) so EsimErrors leave it as typed ApplicationErrors."""
    if inspect.iscoroutinefunction(function):
        @functools.wraps(function)
        async def async_wrapper(*args, **kwargs):
            try:
                return await function(*args, **kwargs)
            except EsimError as error:
                raise to_application_error(error) from None
            except TemporalError:  # already typed, or the SDK's own (cancellation)
                raise
            except Exception as error:
                raise unexpected_error(error) from None

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(function)
    def sync_wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except EsimError as error:
            raise to_application_error(error) from None
        except TemporalError:
            raise
        except Exception as error:
            raise unexpected_error(error) from None

    return sync_wrapper  # type: ignore[return-value]
