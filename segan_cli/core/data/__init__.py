"""Corpus preparation, the manifest, the window cache and the datasets over it."""
