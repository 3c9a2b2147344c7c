"""The worker's jobs, one module each; :mod:`monitors.worker` schedules them.

* ``config``    — the ``worker:`` section (intervals, leader lease, weekly report)
* ``base``      — the job contract (a name, a trigger, ``run(ctx) -> JobResult``) and the run recorder
* ``catalog``   — the jobs a config asks for: ingest per source, Customer.io, detect, alerts,
                  rollups, maintenance (retention), the weekly latency report
* ``tasks``     — what each job does (one pipeline call each)
* ``maintenance`` — rollups and retention
* ``leader``    — single leader: a PostgreSQL advisory lock or a lease row
"""
