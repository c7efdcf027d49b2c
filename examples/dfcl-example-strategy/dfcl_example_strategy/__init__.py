"""An example plugin package for dfcl-bench: one strategy, ``naive-ls`` (``naive_ls.py``), registered through
the ``dfcl.strategies`` entry point in pyproject.toml."""
