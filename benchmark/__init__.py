"""dfcl-bench: a continual-learning benchmark suite for deepfake detection."""

__version__ = "0.1.0"
