"""What ``bsprof noise`` tells the user beside the number: its notes, warnings and refusals, in
one place so the estimator, the measurement and the report say the same words."""

FRESH_SAMPLES_NOTE = (
    "B_noise needs make_batch to draw fresh real samples on every call (from the training "
    "data); with synthetic random data the number means nothing."
)
TRAINING_PROGRESS_NOTE = (
    "Measured at the weights build_model returns; B_noise grows as training progresses "
    "(McCandlish et al.), so load a checkpoint in build_model to measure later in training."
)
CRITICAL_BATCH_NOTE = (
    "B_noise approximates the critical batch size: batches well below it are nearly linearly "
    "efficient (twice the batch, about half the steps); batches well above it buy little per step."
)
MEAN_LOSS_NOTE = (
    "B_noise does not depend on the loss's scale (a loss summed over the batch gives the same "
    "B_noise), but |G|^2 and tr(Sigma) are per-sample values only when the loss is a mean over "
    "the batch: a sum scales both by b^2."
)
IDENTICAL_BATCHES_WARNING = (
    "make_batch returned identical batches on its first two calls: every gradient sees the same "
    "samples, so there is no sampling noise to measure and B_noise means nothing. Draw fresh "
    "samples on each call (e.g. from a DataLoader over the training set)."
)
HF_TARGET_REFUSED = (
    "{model}: bsprof noise cannot measure an hf: target: its model has random weights and its "
    "make_batch returns the same synthetic tokens on every call, so B_noise would mean nothing. "
    "Write a model file instead: build_model loading your checkpoint (e.g. "
    "AutoModelForCausalLM.from_pretrained) and make_batch drawing fresh batches of your "
    "tokenized training data; then bsprof noise FILE.py"
)
NOT_RESOLVED = (
    "B_noise not resolved: the |G|^2 estimate is <= 0, so the gradient is lost in the noise at "
    "this many gradients; use more gradients (--gradients) or a larger --accum."
)
NO_NOISE_NOTE = (
    "The tr(Sigma) estimate is <= 0: no gradient noise was resolved, so B_noise is reported as 0."
)
FEW_GROUPS_WARNING = (
    "only {groups} groups of {accum} gradients: the bootstrap interval is too narrow with fewer "
    "than {minimum} groups (a 90% interval covered the truth 82% of the time at 8 groups); raise "
    "--gradients for an interval to trust."
)
BATCH_DEPENDENT_NOTE = (
    "Dropout's randomness counts as gradient noise, and a BatchNorm model's gradients depend on "
    "each batch's own statistics: B_noise is that of gradients computed as training computes "
    "them, at batch {batch}."
)
