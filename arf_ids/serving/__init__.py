"""The serving side of arf_ids: plain-Python pieces that ``bento/service.py`` assembles.

``holder`` (the served model, swapped as one object), ``localcopy`` (the verified
on-disk copy served when the registry is down), ``poller`` (the registry watcher),
``logwriter`` (batched, durable prediction and label log writes), ``broadcast`` (the
WebSocket feed with bounded per-client queues), ``metrics`` (Prometheus), ``api``
(request and response models, error bodies), ``scoring`` (one request in, verdicts,
log records and feed messages out), ``middleware`` (body limit, API key, request
metrics), ``runtime`` (all of it wired from ``Settings``), ``process`` (run
``bentoml serve`` as a child process) and ``client`` (the HTTP replay client).

Nothing here imports BentoML; only ``bento/service.py`` does.
"""
