"""End-to-end tests: ``pulse up`` as a user runs it."""

import signal


def interruptible() -> None:  # pragma: no cover - runs in the child before exec
    """Give the child the default SIGINT handling: a test runner started in the background
    of a non-interactive shell (``cmd &``, under make) passes SIGINT on as ignored, and
    Python then never raises KeyboardInterrupt for the Ctrl-C these tests send."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
