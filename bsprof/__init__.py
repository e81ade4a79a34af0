"""bsprof: a batch-size and memory profiler for PyTorch training.

Importing this package never imports torch: the estimate formulas and the CLI's help must stay
instant. Torch is imported only by the modules that run or predict a model.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
