"""Local-feature matching fused with global embeddings.

Data flows: photo → keypoints and descriptors (:mod:`~photoid.local.features`, stored once per
photo by :mod:`~photoid.local.store`) → mutual / ratio-test matches verified by RANSAC
(:mod:`~photoid.local.matching`) → each score calibrated to a probability of "same individual"
(:mod:`~photoid.local.calibration`) → the embedding's shortlist re-ranked by the fused
probability (:mod:`~photoid.local.rerank`) → evaluation side by side
(:mod:`~photoid.local.evaluate`).

OpenCV (``opencv-python-headless``) is imported only when features are extracted or verified.
"""
