"""Alerting: findings → routed, grouped, deduplicated notifications through a durable outbox.

Entry points: :func:`monitors.alerts.dispatch.dispatch` (one tick, called by the worker and
``alerts dispatch``), :func:`~monitors.alerts.dispatch.send_report` (a prepared report through a
route) and :func:`~monitors.alerts.dispatch.send_test`.

    config.py      the ``alerts:`` section: receivers, routing tree, inhibition, delivery
    finding.py     a findings row as alerting sees it (labels, state)
    journeys.py    journeys at risk and raised severity
    inhibition.py  silences.py  matchers.py    muting
    routing.py     the routing tree and groups
    planner.py     what to notify now, per route and group (pure)
    message.py     what to say;  compose.py builds messages
    renderers/     how it looks (one module per format)
    sinks/         where it goes (one module per channel)
    delivery.py    outbox delivery: order, retries, leases
    dispatch.py    the pipeline

Kept free of imports so ``monitors.config`` can import :mod:`monitors.alerts.config`.
"""
