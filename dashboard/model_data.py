"""Compatibility only: the model pages' reads now live in dashboard.queries (one place for page
queries). Kept for benchmarks/pages.py and dashboard.data.warm_up, which still import this name;
delete once they import dashboard.queries."""

from dashboard.queries import *  # noqa: F403
