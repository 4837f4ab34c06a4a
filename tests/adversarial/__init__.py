"""The adversarial pass over every ``segan`` command (:mod:`tests.adversarial.harness`).

Hours of real subprocesses, so it is not part of the pytest run (no ``test_*`` files
here): run it from the repository root with ``python -m tests.adversarial``.
"""
