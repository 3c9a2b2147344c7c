"""Customer.io: what the workspace received and did with the events the backend sent.

Modules, one job each:

* ``config``     — the ``customerio:`` section (workspace, region/base_url, key variable, budget…)
* ``client``     — App API client (httpx): pacing at 10 req/s, Retry-After, backoff, auth errors
* ``collector``  — pages ``/v1/activities`` per stream down to the resume point (no I/O besides the client)
* ``metrics``    — activities → rows per (type, name, bucket), gap estimates, next resume point (pure)
* ``flapping``   — attributes changing back and forth for the same person (pure)
* ``reconcile``  — sent vs received per event and bucket → ``delivery_gap`` findings (pure)
* ``job``        — the I/O edges: ``collect_once`` and ``reconcile_once``
* ``checks``     — cross-checks for ``check-config``
* ``standin``    — a local Customer.io (Track v1/v2, Pipelines, App API) for the demo and tests
"""
