"""Doctest collection: modules that need the ``train`` extra are skipped without torch."""

import importlib.util

collect_ignore = [] if importlib.util.find_spec("torch") else ["fit.py"]
