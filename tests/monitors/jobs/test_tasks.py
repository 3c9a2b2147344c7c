"""Each job's one pipeline call, end to end on a real store (SQLite): ingest a source, detect,
dispatch, and the weekly latency report through a file receiver."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitors.config import parse_config
from monitors.demo.generate import Generator, write_jsonl
from monitors.jobs import tasks
from monitors.jobs.base import JobContext
from monitors.sketch import LatencySketch
from storage import Store
from storage.batch import IngestBatch, MetricDelta

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # a Wednesday


def _config(tmp_path: Path, logs: Path) -> object:
    return parse_config({
        "sources": [{"name": "web", "paths": [str(logs)], "final_line_grace": "0s"}],
        "alerts": {"receivers": [{"name": "mailbox", "type": "file", "path": str(tmp_path / "out.txt")}],
                   "route": {"receiver": "mailbox"}, "report_route": "default"},
    })  # fmt: skip


def test_ingest_job_reads_new_lines_once(sqlite_url: str, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    written = write_jsonl(str(logs / "a.jsonl"), Generator(NOW - timedelta(hours=2), NOW, seed=3).messages())
    store = Store.from_url(sqlite_url)
    store.migrate()
    ctx = JobContext(store, _config(tmp_path, logs), clock=lambda: NOW)  # type: ignore[arg-type]
    first = tasks.run_ingest(ctx, ctx.config.sources[0])
    assert (first.status, first.rows) == ("ok", written)
    assert first.message == f"1 of 1 files had new data: {written:,} events, 0 rejected"
    again = tasks.run_ingest(ctx, ctx.config.sources[0])
    assert (again.rows, again.message) == (0, "0 of 1 files had new data: 0 events, 0 rejected")
    assert tasks.run_detect(ctx).status == "ok"
    assert tasks.run_alerts(ctx).status == "ok"


def test_weekly_report_goes_out_through_the_report_route(sqlite_url: str, tmp_path: Path) -> None:
    store = Store.from_url(sqlite_url)
    store.migrate()
    store.set_bucket_seconds(300)
    batch = IngestBatch(source="web", environment="production", sample_rate=1.0, file="f")
    monday = datetime(2026, 11, 17, 10, tzinfo=UTC)
    bucket = int(monday.timestamp())
    batch.metrics[("Order Completed", "track", bucket)] = MetricDelta(5, 5, 5, 5)
    batch.latency[("Order Completed", "track", bucket, "e2e")] = LatencySketch.from_values([400.0] * 5)
    store.apply_ingest(batch, NOW)
    ctx = JobContext(store, _config(tmp_path, tmp_path), clock=lambda: NOW)  # type: ignore[arg-type]
    result = tasks.run_weekly_report(ctx)
    assert result.status == "ok" and result.message.startswith("report for 2026-11-16..2026-11-22 queued as outbox")
    sent = (tmp_path / "out.txt").read_text(encoding="utf-8")
    assert "Weekly latency review 2026-11-16 – 2026-11-22" in sent
    assert "Order Completed [web/production]: p95 6.7 min" in sent and "MISSED" in sent


def test_weekly_report_without_a_route_is_skipped_with_the_reason(sqlite_url: str) -> None:
    store = Store.from_url(sqlite_url)
    store.migrate()
    result = tasks.run_weekly_report(JobContext(store, parse_config({}), clock=lambda: NOW))
    assert result.status == "skipped"
    assert result.message == ("not sent: no route for reports: set alerts.report_route or add a route with an "
                              "email receiver")  # fmt: skip


def test_ingest_job_uses_the_leakage_rules_and_name_budget_and_reports_damage(sqlite_url: str, tmp_path: Path) -> None:
    """The scheduled job reads with the config's leakage rules and event-name budget (it once used
    the default rules), and a damaged gzip makes it partial with the reason."""
    import gzip
    import json

    from monitors.report import metric_records

    logs = tmp_path / "logs"
    logs.mkdir()
    ts = "2026-11-25T08:00:00Z"
    lines = [{"type": "track", "event": "Added to Cart", "userId": "ops-1", "timestamp": ts,
              "properties": {"exp_a": "A", "exp_b": "B", "exp_c": "A"}}]
    lines += [{"type": "track", "event": f"Viewed {i}", "userId": "u", "timestamp": ts} for i in range(3)]
    (logs / "a.jsonl").write_text("".join(json.dumps(m) + "\n" for m in lines))
    bad = bytearray(gzip.compress(b'{"a": 1}\n' * 50))
    bad[10:12] = b"\xff\xff"
    (logs / "b.jsonl.gz").write_bytes(gzip.compress(b'{"type": "track"}\n') + bytes(bad))
    config = parse_config({
        "sources": [{"name": "web", "paths": [str(logs)], "final_line_grace": "0s", "max_event_names": 2,
                     "max_property_keys": 1}],
        "leakage": {"test_user_id_pattern": "^ops-"},
    })  # fmt: skip
    store = Store.from_url(sqlite_url)
    store.migrate()
    ctx = JobContext(store, config, clock=lambda: NOW)
    result = tasks.run_ingest(ctx, config.sources[0])
    assert result.status == "partial" and "damaged gzip (Error -3 while decompressing data" in result.error
    assert "over the budget of 2 names for this source: 2 of them are counted as '(other events)'" in result.message
    assert ("2 new property keys over the budget of 1 unplanned keys per event are counted as '(other properties)' "
            "(2 of them in 'Added to Cart', most frequent: 'exp_b', 'exp_c')") in result.message
    by_event = {r["event"]: r for r in metric_records(store, width=86400)}
    assert sorted(by_event) == ["(other events)", "Added to Cart", "Viewed 0"]
    assert by_event["Added to Cart"]["leak_signals"] == {"test_user_id": 1}
