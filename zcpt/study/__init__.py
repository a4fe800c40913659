"""The operation-scoring study of the paper's section 3 (``zcpt study``).

Modules: :mod:`.correlation` (per-edge Spearman), :mod:`.supernet_training`
(DARTS supernet training and its cache), :mod:`.toy` (the appendix's chain of
mixed layers), :mod:`.runner` (the study itself) and :mod:`.report` (Markdown,
PNG plots). Nothing is imported here, so that ``zcpt.scoring`` can use
:mod:`.supernet_training` without an import cycle.
"""
