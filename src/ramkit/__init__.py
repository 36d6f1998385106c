"""ramkit: rheumatoid-arthritis analysis of hand and wrist radiographs (RAM-H1200, RAM-W600, anatomy-aware MIL)."""

__version__ = "0.1.0"
