"""The match-review web page: ``photoid serve CATALOG`` (FastAPI + uvicorn, the optional
``web`` extra). A thin front end over :mod:`photoid.service.review`; the page is plain
HTML/JS/CSS shipped in ``static/``, nothing loaded from elsewhere."""
