"""Results of training runs: tables over seeds, the papers' published errors, and figures."""

from .document import results_document
from .plots import plot_comparison, plot_curves, read_metrics
from .published import PublishedTable, published_errors, published_table, published_tables
from .tables import Row, aggregate, csv_text, find_runs, markdown, read_summaries

__all__ = [
    "PublishedTable",
    "Row",
    "aggregate",
    "csv_text",
    "find_runs",
    "markdown",
    "plot_comparison",
    "plot_curves",
    "published_errors",
    "published_table",
    "published_tables",
    "read_metrics",
    "read_summaries",
    "results_document",
]
