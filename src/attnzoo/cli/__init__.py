"""Command-line interface (``attnzoo`` / ``python -m attnzoo``)."""
