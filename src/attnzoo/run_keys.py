"""Training settings that do not change what a run computes (``compile_mode``: how the same
network is compiled, not what it computes; ``download``: whether a missing dataset may be fetched;
runs written before they existed compare equal).

A leaf module: the engine lets them change when a run resumes, and the report lets them differ
between the runs of one table row, without either importing the other.
"""

RESUMABLE_CHANGES = frozenset(
    {
        "resume",
        "save_every",
        "keep_every",
        "workers",
        "tensorboard",
        "out_dir",
        "compile_mode",
        "download",
    }
)
