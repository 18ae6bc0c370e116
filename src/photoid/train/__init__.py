"""Training embeddings: samplers, augmentations, the loop as plain functions, the CPU fast
path, checkpoints and distributed set-up. Start at :func:`photoid.train.run.train`."""
