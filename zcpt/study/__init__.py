"""The operation-scoring study of the paper's section 3 (``zcpt study``).

Modules: :mod:`.correlation` (per-edge Spearman), :mod:`.toy` (the appendix's
chain of mixed layers), :mod:`.runner` (the study itself) and :mod:`.report`
(Markdown, PNG plots). The trained DARTS supernets the training-based functions
score with live in :mod:`zcpt.training.supernet`, the standalone-cell scores of
best-zc in :mod:`zcpt.scoring.cell_scores`: the study uses the lower layers and
nothing below imports it.

Calibration (``zcpt calibrate``) lives here too: :mod:`.calibration` (the fit, the
report and the scores file), :mod:`.trained_accuracy` (short trainings of the
sampled networks) and :mod:`.calibration_run` (a whole calibration on a space and data).
"""
from .runner import DEFAULT_FUNCTIONS, StudyConfig, parse_function, run_study  # noqa: F401

__all__ = ["DEFAULT_FUNCTIONS", "StudyConfig", "parse_function", "run_study"]
