"""Predictions on fake tensors: one training iteration's memory and FLOPs, without running it.

- ``tracker``: live tensor storage during an iteration (fake or real tensors alike);
- ``fake``: running the user's code under FakeTensorMode, and its limits as errors;
- ``corrections``: ops whose fake kernels size an output wrongly;
- ``flops``: FLOPs per iteration, and the ops without a formula;
- ``iteration``: one predicted steady-state iteration -> PredictionRecord;
- ``selfcheck``: the same iteration on real CPU tensors, compared with the prediction.
"""

from bsprof.prediction.fake import PredictionUnsupported
from bsprof.prediction.iteration import predict_iteration

__all__ = ["PredictionUnsupported", "predict_iteration"]
