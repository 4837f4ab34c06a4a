"""Data: corpus *sources* (:mod:`.sources`: VoiceBank, pairs, mix, demo, downloads)
and the *pipeline* they feed (:mod:`.pipeline`: corpus writer, manifest, window cache,
statistics, augmentation, the Lightning data module)."""
