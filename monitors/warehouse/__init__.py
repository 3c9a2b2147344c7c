"""Warehouse sources: read events from any SQLAlchemy engine with push-down aggregation.

config.py      the ``warehouses:`` section (one entry per source) and ``rollups:`` retention
mapping.py     the common warehouse layout (tracks, per-event tables, identifies) and custom tables
dialects.py    every SQL dialect difference (epoch, md5, hex, JSON, regex), compiled per dialect
sqlbuild.py    the aggregate queries, built with SQLAlchemy Core
aggregate.py   aggregate rows → partials per (event, type, slice, bucket), judged by the plan
collector.py   one run of one source: lease, window, queries, one committed transaction
"""
