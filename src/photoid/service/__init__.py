"""The application layer: what the front ends (CLI, review page, API) do with a catalog, built
on the storage (:mod:`photoid.catalog`) and the stages below it.

- :mod:`~photoid.service.lookup`: a catalog as an Identifier's gallery, and the road it
  answers by;
- :mod:`~photoid.service.review`: match review (confirm, new individual, skip, undo) and the
  review session the page holds;
- :mod:`~photoid.service.ingest`: filling a catalog (embedding, keypoints, facts) and
  re-embedding it;
- :mod:`~photoid.service.descriptors`: the catalog's kept keypoints;
- :mod:`~photoid.service.lnbnn_cache`: the catalog's fitted LNBNN reranker, kept.

:mod:`photoid.catalog` imports none of it, nor :mod:`photoid.local` or identification: the
``[tool.importlinter]`` contracts say so.
"""
