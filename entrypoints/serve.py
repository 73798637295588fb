"""How `org-agents serve` runs the app's workers, under granian (the default) or uvicorn, and stops them.

Granian stops each worker with one SIGTERM, which a worker misses if it comes before the worker serves: until granian
sets the worker's stop handler it reaches the handler inherited from the parent, and while the worker's event loop is
paused between its lifespan run and its serving run (1-3 ms, measured) uvloop notes it but never acts on it. That
worker serves on until `workers_kill_timeout` kills it, its lifespan shutdown never run. The shim: an `on_startup`
hook blocks SIGTERM and SIGINT in granian's parent just before it forks, so the workers are born with them blocked
and keep any that come pending; the parent takes them itself (`sigwait`, in a thread that calls the handler granian
installed). A worker keeps them blocked and takes the first one in a thread of its own (`sigwait`), which hands it to
the worker's event loop: a callback runs only once the loop runs again, serving, with granian's handler listening.
There the worker first answers every held watch (`?wait=` requests, which would otherwise hold the stop until
granian's kill timeout), then unblocks the signals and raises the one it took, for granian's handler. No private
granian name is used.

Measured with `--workers 2` on the machine's PostgreSQL, SIGTERM as soon as /health first answers, 24 stops each
(seconds from SIGTERM to exit, min / median / max); every stop exited 0 and left no process behind:
- the former shim, an `MPServer` subclass overriding the private `_stop_workers` (a worker signalled once it had
  written a started file, again every 0.5 s): 0.11 / 0.12 / 0.62;
- granian's public API with `workers_kill_timeout=30`, no shim: 15 of 24 took 30.1 s, a worker killed;
- this shim, when the worker unblocked the signals on a timer 0.1 s after its start: 0.16 / 0.22 / 0.37.
Stopped at random moments of the start instead (72 stops each), holding the stop in the parent until every worker
had written a started file at the end of its lifespan let 3 workers be killed at 30 s; blocking the signals in the
worker from its app factory to the end of its lifespan, 1; the shim with the timer, none. The worker now takes the
signal itself, in a thread, instead of the timer (tests/e2e/test_shutdown.py stops it right after its start, and
with watches held).
"""

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Final

APP_FACTORY: Final = "entrypoints.http.app:app_from_env"
WORKER_STOP_S: Final = 30  # requests in flight finish within the statement and pool timeouts, well before this
STOP_SIGNALS: Final = frozenset({signal.SIGINT, signal.SIGTERM})
# Requests a worker runs at once besides held watches (`?wait=`): granian's own default is 512 per worker of 2. A
# watch holds its request, so each worker admits its watches on top of this, and the hot path is never queued behind
# them.
REQUESTS_IN_FLIGHT: Final = 1024


def serve_granian(
    *, host: str, port: int, workers: int, log_level: str, max_watchers: int, client_timeout_s: float
) -> None:
    """Returns once granian has stopped its workers after SIGTERM or SIGINT (requests in flight finish). A client
    has `client_timeout_s` to send a request's headers (and to start one on an idle connection); the body's own
    deadline is the app's (entrypoints/http/limits.py)."""
    from granian import Granian
    from granian.constants import Interfaces, Loops
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    server = Granian(
        APP_FACTORY, factory=True, interface=Interfaces.ASGI, address=host, port=port, workers=workers,
        loop=Loops.uvloop, log_level=LogLevels(log_level), log_access=False, websockets=False,
        workers_kill_timeout=WORKER_STOP_S, backpressure=REQUESTS_IN_FLIGHT + max_watchers,
        http1_settings=HTTP1Settings(header_read_timeout=round(client_timeout_s * 1000)),
    )  # fmt: skip
    server.on_startup(_hold_stop_signals)
    try:
        server.serve()
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def _hold_stop_signals() -> None:
    """Granian runs this in the parent after installing its stop handler, just before it forks the workers."""
    handlers = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # the workers inherit the mask; so does the thread below

    def pass_on() -> None:
        while True:
            signum = signal.Signals(signal.sigwait(STOP_SIGNALS))
            handler = handlers[signum]
            if callable(handler):
                handler(signum, None)

    threading.Thread(target=pass_on, name="org-agents stop signals", daemon=True).start()


def take_stop_signals_once_serving(before_stop: Callable[[], None]) -> None:
    """A worker's `on_started`: the first stop signal runs `before_stop` on the worker's loop, then reaches granian's
    handler. A no-op where the signals were not blocked (uvicorn, tests)."""
    if not signal.pthread_sigmask(signal.SIG_BLOCK, ()) >= STOP_SIGNALS:
        return
    loop = asyncio.get_running_loop()

    def stop(signum: signal.Signals) -> None:
        before_stop()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        signal.raise_signal(signum)  # unblocked now: granian's handler runs, in this thread, at once

    def take() -> None:
        loop.call_soon_threadsafe(stop, signal.Signals(signal.sigwait(STOP_SIGNALS)))

    threading.Thread(target=take, name="org-agents stop signal", daemon=True).start()


def serve_uvicorn(
    *, host: str, port: int, workers: int, log_level: str, max_watchers: int, client_timeout_s: float
) -> None:
    """uvicorn has no limit of requests in flight by default: `max_watchers` needs no room made. An idle connection
    is closed after `client_timeout_s`."""
    import uvicorn

    # uvicorn shuts down gracefully on SIGTERM, then re-raises it to the handler it found: a clean exit.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        APP_FACTORY, factory=True, host=host, port=port, workers=workers, loop="uvloop", http="httptools",
        log_level=log_level, lifespan="on", access_log=False, timeout_keep_alive=max(1, round(client_timeout_s)),
    )  # fmt: skip  # our own access log writes one structured line per request


def _exit_cleanly(signum: int, _: FrameType | None) -> None:
    raise SystemExit(0)
