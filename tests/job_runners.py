"""A job runner for tests (bsprof.runner.jobs.JobRunner) whose jobs end as the test says."""

from __future__ import annotations

from bsprof.runner import jobs

Progress = jobs.ProgressCallback | None
Records = jobs.RecordCallback | None


class ScriptedRunner:
    """``run`` has the protocol's signature once; a subclass says in ``outcome`` what each job
    sends (through the callbacks) and ends with."""

    def run(
        self,
        job: jobs.Job,
        timeout_s: float,
        on_progress: Progress = None,
        on_record: Records = None,
        held_s: jobs.HeldSeconds | None = None,
    ) -> jobs.JobOutcome:
        return self.outcome(job, on_progress, on_record)

    def outcome(self, job: jobs.Job, progress: Progress, send: Records) -> jobs.JobOutcome:
        raise NotImplementedError
