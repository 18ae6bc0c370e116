"""See it: reports that show whether an embedding works, and review sheets for answers.

Each writer makes one self-contained HTML file (every image inlined as base64, no network
needed to open it) and the figures as PNG files beside it:

* :func:`photoid.report.training.training_report`: a training run folder's curves;
* :func:`photoid.report.evaluation.evaluation_report`: an evaluation's similarity
  histograms, threshold curve, embedding map, match galleries and breakdowns;
* :func:`photoid.report.catalog.catalog_report`: what a catalog holds and how well its
  embedding separates its individuals;
* :func:`photoid.report.sheet.review_sheet`: each query photo beside its candidates' photos.

matplotlib (and umap-learn for the embedding map) are imported on use.
"""
