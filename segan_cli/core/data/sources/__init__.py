"""Corpus sources: where clean and noisy audio come from (VoiceBank, pairs, mix, demo).

Each module turns one kind of input into utterances for the pipeline in
``segan_cli.core.data.pipeline`` (corpus writer, manifest, cache, windows, statistics).
"""
