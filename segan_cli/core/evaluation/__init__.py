"""Scoring systems against clean references: which rows to score and how
(``plans``: Noisy, Wiener, checkpoints, folders) and whether one row beats another,
file by file (``paired``)."""
