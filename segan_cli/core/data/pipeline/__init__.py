"""The corpus pipeline: what a prepared corpus is and how training reads it.

``corpus`` writes a corpus folder (splits, ``manifest``), ``cache`` and ``windows``
turn it into windowed arrays, ``stats`` summarises it, ``augment`` varies the training
windows, and ``datamodule`` feeds Lightning. The corpus *sources* (VoiceBank, pairs,
mix, demo) live in :mod:`segan_cli.core.data.sources` and write through ``corpus``.
"""
