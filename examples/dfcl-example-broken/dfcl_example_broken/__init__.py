"""A deliberately broken plugin package for dfcl-bench: ``peeking-naive`` selects its weights on the test split
(``peeking_naive.py``). It exists to show what ``dfcl validate`` catches; never submit a strategy like it."""
