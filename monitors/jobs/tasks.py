"""What each job does: one call into one pipeline, and a one-line result for the run record.

* ``ingest:<source>`` — read what is new in the source's files (:func:`monitors.ingest.pipeline.ingest`);
* ``customerio`` — collect activities, reconcile sent vs received, record ``delivery_gap`` findings;
* ``detect`` — every detector at the current time (:func:`monitors.detect.run_detection`);
* ``alerts`` — one dispatch tick (:func:`monitors.alerts.dispatch.dispatch`);
* ``rollups`` — hour and day rollups of the newest raw buckets;
* ``maintenance`` — retention of old data;
* ``weekly_report`` — the weekly latency review through the report route.
"""

from __future__ import annotations

from datetime import timedelta

from monitors.alerts.dispatch import dispatch, send_report
from monitors.config import SourceConfig
from monitors.customerio.client import AppAPIClient
from monitors.customerio.job import collect_once, reconcile_once
from monitors.detect import run_detection
from monitors.errors import ConfigError
from monitors.ingest.pipeline import IngestOptions, ingest
from monitors.jobs import maintenance
from monitors.jobs.base import JobContext, JobResult
from monitors.plan import Plan, load_plan
from monitors.timeutil import parse_duration
from monitors.ui.weekly import last_full_week, to_html, to_text, weekly_review


def _plan(ctx: JobContext) -> Plan:
    plan = ctx.cache.get("plan")
    if not isinstance(plan, Plan):
        plan = load_plan(ctx.config.plan)
        ctx.cache["plan"] = plan
    return plan


def run_ingest(ctx: JobContext, source: SourceConfig) -> JobResult:
    """Ingest one configured source (only new bytes; exactly once)."""
    opts = IngestOptions(
        source=source.name, environment=source.environment, plan=_plan(ctx), bucket_seconds=ctx.config.bucket_seconds,
        sample_rate=source.conformance_sample_rate, final_line_grace=float(parse_duration(source.final_line_grace)),
        clock=ctx.clock, leakage=ctx.config.leakage, max_event_names=source.max_event_names,
        max_property_keys=source.max_property_keys,
    )  # fmt: skip
    report = ingest(ctx.store, source.paths, opts, strict=False)
    read = [f for f in report.files if f.status == "read"]
    message = f"{len(read)} of {len(report.files)} files had new data: {report.events:,} events, {report.rejected:,} rejected"
    warnings = [f"{f.path}: {f.warning}" for f in report.files if f.warning]
    if warnings:
        message += "; " + "; ".join(warnings)
    if report.troubles:
        return JobResult(report.events, message[:2000], "partial", "; ".join(report.troubles)[:2000])
    return JobResult(report.events, message[:2000])


def _client(ctx: JobContext) -> AppAPIClient:
    client = ctx.cache.get("customerio_client")
    if not isinstance(client, AppAPIClient):
        assert ctx.config.customerio is not None
        client = AppAPIClient.from_config(ctx.config.customerio)
        ctx.cache["customerio_client"] = client
    return client


def run_customerio(ctx: JobContext) -> JobResult:
    """Collect Customer.io activities, then reconcile and record delivery-gap findings."""
    cio = ctx.config.customerio
    if cio is None:
        return JobResult(status="skipped", message="no customerio: section in the config")
    width = ctx.config.bucket_seconds
    run = collect_once(cio, ctx.store, _client(ctx), bucket=width, clock=ctx.clock, stopping=ctx.stop.is_set)
    now = ctx.clock()
    result = reconcile_once(cio, ctx.store, bucket=width, now=now)
    upserted = ctx.store.upsert_findings(result.findings, now=now)
    message = (f"{run.message}; reconciled {len(result.metrics)} buckets: {len(upserted.opened)} gaps opened, "
               f"{len(upserted.resolved)} resolved")  # fmt: skip
    return JobResult(run.activities, message)


def run_detect(ctx: JobContext) -> JobResult:
    """One detection pass at the current time."""
    report = run_detection(ctx.store, ctx.config, now=ctx.clock())
    rows = len(report.opened) + len(report.updated) + len(report.resolved)
    return JobResult(rows, f"{len(report.opened)} opened, {len(report.updated)} updated, "
                           f"{len(report.resolved)} resolved, {report.bands_written} band rows")  # fmt: skip


def run_alerts(ctx: JobContext) -> JobResult:
    """One dispatch tick: plan, enqueue, deliver."""
    report = dispatch(ctx.store, ctx.config, now=ctx.clock())
    status = "partial" if report.delivery.failed else "ok"
    error = "; ".join(report.delivery.errors)[:2000] or None if report.delivery.failed else None
    return JobResult(report.enqueued + report.delivery.sent, report.summary(), status, error)


def run_rollups(ctx: JobContext) -> JobResult:
    """Bring the hour and day rollups up to date."""
    rows, message = maintenance.roll_up(ctx.store, ctx.config, ctx.clock())
    return JobResult(rows, message)


def run_maintenance(ctx: JobContext) -> JobResult:
    """Expire data past the retention policy."""
    rows, message = maintenance.expire(ctx.store, ctx.config, ctx.clock())
    return JobResult(rows, message)


def run_weekly_report(ctx: JobContext) -> JobResult:
    """Send the weekly latency review of the last complete week (Monday to Monday, UTC)."""
    end = last_full_week(ctx.clock())
    review = weekly_review(ctx.store, ctx.config, end)
    try:
        outbox_id = send_report(ctx.store, ctx.config, review.title, to_text(review), html=to_html(review),
                                now=ctx.clock())  # fmt: skip
    except ConfigError as exc:
        return JobResult(status="skipped", message=f"not sent: {exc}")
    week = f"{review.start:%Y-%m-%d}..{(review.end - timedelta(seconds=1)):%Y-%m-%d}"
    return JobResult(len(review.hops), f"report for {week} queued as outbox message {outbox_id}")
