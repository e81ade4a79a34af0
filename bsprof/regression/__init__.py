"""``bsprof check``: rerun a baseline sweep, compare it metric by metric, and decide. No torch.

The rules:

- Each metric has one "worse" direction (memory, FLOPs and time grow; throughput and the
  largest batch that fits drop), and a limit is written in that direction: ``peak_memory:+2%``,
  ``throughput:-10%``, ``largest_batch:-1``.
- Without user limits the deterministic numbers gate: predicted peak, predicted device memory
  and FLOPs (+1%), and any drop of the largest batch that fits; so does measured peak memory
  (+5%, and a change within MEASURED_MEMORY_NOISE_BYTES always passes: the run-to-run noise of
  a measured peak). Timings are compared too, but only warn. With user limits, exactly the
  given limits gate and the defaults for the metrics not named only warn.
- A prediction that failed its self-check (``verified: false`` on either side) does not gate:
  its metrics are reported with the reason.
- A batch size that ran in the baseline and now runs out of memory is a ``fits`` regression;
  it gates like ``largest_batch`` does.
- Timings are compared noise-aware (see ``timing_verdict``) and never across environments that
  differ in GPU, torch, thread count, precision, mode or world size.

The modules, each importing only those listed before it:

- ``metrics``: the metrics, where each is read and which direction is worse;
- ``thresholds``: a limit on a metric, and the default limits;
- ``parsing``: limits as the user types them;
- ``verdict``: one change against its limit, timings noise-aware;
- ``report``: the comparison rows and the report that decides the exit code;
- ``environment``: environment and training-setup changes between the two runs;
- ``fits``: the batch sizes both runs must share, and those that stopped fitting;
- ``compare``: the pure comparison of two sweeps;
- ``rerun``: runs the sweeps, and measures a suspect regression once more.
"""

from __future__ import annotations

from bsprof.regression.compare import compare
from bsprof.regression.environment import fingerprint, timing_comparable
from bsprof.regression.metrics import FITS, Kind
from bsprof.regression.parsing import ACCEPTED_FORMS, parse_threshold
from bsprof.regression.report import CheckReport, Comparison
from bsprof.regression.rerun import CheckOutcome, run_check
from bsprof.regression.thresholds import Threshold, default_thresholds
from bsprof.regression.verdict import Verdict, timing_verdict, value_verdict

__all__ = [
    "ACCEPTED_FORMS",
    "FITS",
    "CheckOutcome",
    "CheckReport",
    "Comparison",
    "Kind",
    "Threshold",
    "Verdict",
    "compare",
    "default_thresholds",
    "fingerprint",
    "parse_threshold",
    "run_check",
    "timing_comparable",
    "timing_verdict",
    "value_verdict",
]
