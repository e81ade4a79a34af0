"""Imported by the fork server before anything else (see WorkerPool): it dies with bsprof and
cleans up after it (bsprof.lifetime.guard_fork_server). Nothing else imports this module."""

from bsprof.lifetime import guard_fork_server

guard_fork_server()
