"""A model stream that a Stop ends at once, with the provider's request closed where it was opened.

Strands checks its cancel signal only when the next chunk arrives, and then leaves the provider's stream
suspended: a server that is still reading a long prompt keeps the Stop waiting, and when the turn's event loop
ends, asyncio closes the abandoned nested generators (the provider's stream, its client context, httpx's
readers) all at once, which fails ("aclose(): asynchronous generator is already running", "generator didn't
stop after athrow()"). Here one task drives the provider's stream; a Stop cancels that task, which closes the
stream inside it, in order, before the turn ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

POLL_SECONDS = 0.05
"""How often a waiting stream looks at the cancel signal."""

_END = object()


async def _pump(events: AsyncGenerator[Any, None], queue: asyncio.Queue[Any]) -> None:
    """Move the provider's events to ``queue``, then its end (or its error); always close the stream here."""
    try:
        async for event in events:
            await queue.put((event, None))
        await queue.put((_END, None))
    except Exception as error:  # handed to the reader, which raises it where Strands expects it
        await queue.put((_END, error))
    finally:
        await events.aclose()


async def _next(queue: asyncio.Queue[Any], cancel_signal: threading.Event) -> tuple[Any, Exception | None]:
    """The next item of ``queue``, or the end as soon as the cancel signal is set."""
    getting = asyncio.ensure_future(queue.get())
    try:
        while not getting.done() and not cancel_signal.is_set():
            await asyncio.wait({getting}, timeout=POLL_SECONDS)
        return getting.result() if getting.done() and not cancel_signal.is_set() else (_END, None)
    finally:
        getting.cancel()


async def until_cancelled(
    events: AsyncGenerator[Any, None], cancel_signal: threading.Event | None
) -> AsyncIterator[Any]:
    """The events of a provider's stream, ending as soon as ``cancel_signal`` is set.

    Args:
        events: The provider's stream.
        cancel_signal: Strands' cancel signal of the running turn (none: the stream is passed on as it is).

    Yields:
        The provider's events, none after the signal was set.

    Raises:
        Exception: What the provider's stream raised.

    """
    if cancel_signal is None:
        async for event in events:
            yield event
        return
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=1)
    pump = asyncio.ensure_future(_pump(events, queue))
    try:
        while True:
            event, error = await _next(queue, cancel_signal)
            if error is not None:
                raise error
            if event is _END:
                return
            yield event
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump


class StopsMidRequest:
    """Mixin for a Strands model: a Stop ends its stream at once, even while the server has not answered yet."""

    async def stream(self, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        """The provider's stream, ended by the turn's cancel signal.

        Args:
            *args: As for the provider's ``stream``.
            **kwargs: As for the provider's ``stream`` (Strands passes ``cancel_signal``).

        Yields:
            The provider's stream events.

        """
        provider_stream = super().stream(*args, **kwargs)  # type: ignore[misc]
        async for event in until_cancelled(provider_stream, kwargs.get("cancel_signal")):
            yield event
