"""The baselines of the paper's comparison, one module per family of methods.

Each module holds a method's algorithm as plain functions over a search space
and a scoring callable, so that the algorithm can be tested on tiny settings
without the run-directory machinery:

* :mod:`.sampling`  -- ``random`` (one uniform draw), ``naswot`` (best proxy score
  among M uniform draws, R repeats) and ``max-params`` (the same with the
  parameter count);
* :mod:`.evolution` -- regularised evolution with a zero-cost fitness;
* :mod:`.tenas`     -- TE-NAS's pruning by NTK condition number and linear regions;
* :mod:`.darts`     -- DARTS (argmax alpha) and DARTS-PT (perturbation by accuracy).
"""
