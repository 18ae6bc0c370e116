"""Optional stages before matching: region of interest (crop or foreground mask), species and
viewpoint classifiers, routing, and the comparison of designs (``photoid compare``).

All stages share one backbone pass (:mod:`photoid.pipeline.features`)."""
