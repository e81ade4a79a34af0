"""Running jobs in isolated processes. Importing this package imports nothing (no torch): the
fork server's guard, bsprof.runner._forkserver_setup, must run before anything else loads.

- ``jobs``: the jobs, the messages a worker sends back, and a job's outcome (no torch)
- ``pool``: the parent's side: a fork server preloaded with torch, one child per job (no torch)
- ``preload``: which of the model's libraries the fork server imports once too (no torch)
- ``child``: the child's side: runs one job and reports (imports torch)
- ``torchrun``: one data-parallel trial through torch's own launcher (no torch)
- ``rank``: one rank of that trial, under torchrun (imports torch)
"""
