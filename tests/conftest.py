"""Shared pytest setup: quiet progress bars, one thread per process, headless matplotlib."""

import os

os.environ.setdefault("RAMKIT_NO_PROGRESS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_NUM_THREADS", "1")

try:  # keep the 2-core CI machine responsive
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass
