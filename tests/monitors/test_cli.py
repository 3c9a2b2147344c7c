"""The CLI: commands as written in the README, errors that say what to do, no tracebacks."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from monitors.cli import main
from storage import Store
from storage.tables import reject_samples
from tests.monitors.ingest.helpers import track, write_lines


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ingest_then_metrics_json_and_csv(capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_url: str) -> None:
    path = write_lines(tmp_path / "e.jsonl", [track(user=f"u{i}", received="2026-11-02T10:00:02.000+00:00") for i in range(4)])
    code, out, _ = _run(capsys, "ingest", str(path), "--db", sqlite_url, "--source", "web", "--environment", "staging",
                        "--final-line-grace", "0s")  # fmt: skip
    assert code == 0 and "4 events" in out
    code, out, _ = _run(capsys, "metrics", "--db", sqlite_url, "--event", "Added to Cart", "--format", "json")
    (rec,) = json.loads(out)
    assert {k: rec[k] for k in ("source", "environment", "event", "bucket_start", "count", "conforming")} == {
        "source": "web", "environment": "staging", "event": "Added to Cart", "bucket_start": "2026-11-02T10:00:00Z",
        "count": 4, "conforming": 4,
    }  # fmt: skip
    assert rec["latency_p50_s"] == pytest.approx(2.0, rel=0.0101)
    for key in ("latency_p95_s", "latency_p99_s", "send_p50_s", "deliver_p95_s", "e2e_p99_s", "violations"):
        assert key in rec
    code, out, _ = _run(capsys, "metrics", "--db", sqlite_url, "--format", "csv", "--bucket", "1h")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["bucket_start"] for r in rows] == ["2026-11-02T10:00:00Z"] and rows[0]["violations"] == "{}"
    code, out, _ = _run(capsys, "metrics", "--db", sqlite_url, "--since", "2026-11-02T11:00:00Z", "--format", "json")
    assert json.loads(out) == []
    code, out, err = _run(capsys, "metrics", "--db", sqlite_url, "--since", "2026-11-02T11:00:00Z", "--until", "2026-11-02T10:00:00Z")
    assert (code, out) == (2, "") and "--until (2026-11-02T10:00:00Z) must be after --since (2026-11-02T11:00:00Z)" in err
    code, out, _ = _run(capsys, "status", "--db", sqlite_url, "--format", "json")
    status = json.loads(out)
    assert status["sources"][0]["events"] == 4 and status["sources"][0]["resume_points"][0]["offset"] > 0


def test_metrics_totals_over_a_range_are_the_same_at_every_bucket_width(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_url: str
) -> None:
    """An hour-wide range that starts mid-hour: 5m, 1h and 1d buckets add up to the same count (the
    buckets cut by --since or --until hold only the part inside)."""
    base = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
    lines = [track(user=f"u{i}", ts=(base + timedelta(minutes=i)).isoformat()) for i in range(6 * 60)]  # one a minute
    path = write_lines(tmp_path / "e.jsonl", lines)
    assert _run(capsys, "ingest", str(path), "--db", sqlite_url, "--final-line-grace", "0s", "--no-progress")[0] == 0
    totals = {}
    for width in ("5m", "1h", "1d"):
        code, out, _ = _run(capsys, "metrics", "--db", sqlite_url, "--since", "2026-11-02T01:30:00Z",
                            "--until", "2026-11-02T02:30:00Z", "--bucket", width, "--format", "json")  # fmt: skip
        assert code == 0
        totals[width] = (sum(r["count"] for r in json.loads(out)), [r["bucket_start"] for r in json.loads(out)])
    assert totals["5m"][0] == totals["1h"][0] == totals["1d"][0] == 60
    assert totals["1h"][1] == ["2026-11-02T01:00:00Z", "2026-11-02T02:00:00Z"]  # 30 minutes in each
    assert totals["1d"][1] == ["2026-11-02T00:00:00Z"]


def test_metrics_until_with_a_fraction_keeps_the_bucket_starting_before_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_url: str
) -> None:
    """``--until 10:05:00.5``: the bucket starting at 10:05:00 starts before it (the fraction was
    dropped, and that bucket with it)."""
    path = write_lines(tmp_path / "e.jsonl", [track(user="a"), track(user="b", ts="2026-11-02T10:05:00.000+00:00")])
    assert _run(capsys, "ingest", str(path), "--db", sqlite_url, "--final-line-grace", "0s", "--no-progress")[0] == 0
    for until, starts in (("2026-11-02T10:05:00.5Z", ["10:00", "10:05"]), ("2026-11-02T10:05:00Z", ["10:00"])):
        code, out, _ = _run(capsys, "metrics", "--db", sqlite_url, "--until", until, "--format", "json")
        assert code == 0 and [r["bucket_start"] for r in json.loads(out)] == [f"2026-11-02T{s}:00Z" for s in starts]


def test_empty_csv_results_still_have_their_header(capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_url: str) -> None:
    """No record matching printed one blank line: no columns for csv readers (pandas: EmptyDataError)."""
    path = write_lines(tmp_path / "e.jsonl", [track()])
    assert _run(capsys, "ingest", str(path), "--db", sqlite_url, "--final-line-grace", "0s", "--no-progress")[0] == 0
    full = _run(capsys, "metrics", "--db", sqlite_url, "--format", "csv")[1]
    code, out, _ = _run(capsys, "metrics", "--db", sqlite_url, "--event", "nothing", "--format", "csv")
    assert code == 0 and out == full.splitlines(keepends=True)[0]
    assert next(csv.reader(io.StringIO(out)))[:6] == ["source", "environment", "event", "type", "bucket_start", "bucket_seconds"]
    code, out, _ = _run(capsys, "rejects", "--db", sqlite_url, "--format", "csv")
    assert (code, out) == (0, "source,reason,count,last_seen_at,samples\n")


def test_metrics_bucket_of_zero_is_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_url: str) -> None:
    """``--bucket 0m`` printed the stored 5m buckets as if no --bucket had been given."""
    path = write_lines(tmp_path / "e.jsonl", [track()])
    assert _run(capsys, "ingest", str(path), "--db", sqlite_url, "--final-line-grace", "0s", "--no-progress")[0] == 0
    code, out, err = _run(capsys, "metrics", "--db", sqlite_url, "--bucket", "0m")
    assert (code, out, err.strip()) == (2, "", "error: --bucket: a bucket of 0 seconds holds nothing (use e.g. 5m, 1h, 1d)")


def test_status_follows_renamed_files_and_shows_decompressed_offsets(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_url: str
) -> None:
    import gzip

    logs = tmp_path / "logs"
    logs.mkdir()
    active = write_lines(logs / "app.log", [track(user=f"u{i}") for i in range(5)])
    args = ("--db", sqlite_url, "--source", "web", "--final-line-grace", "0s", "--no-progress")
    assert _run(capsys, "ingest", str(logs), *args)[0] == 0
    active.rename(logs / "app.log.1")  # rotated by rename: a new app.log with other lines
    write_lines(logs / "app.log", [track(user=f"v{i}", ts="2026-11-02T11:00:00.000+00:00") for i in range(3)])
    packed = logs / "old.jsonl.gz"
    packed.write_bytes(gzip.compress(b"".join(json.dumps(track(user=f"g{i}")).encode() + b"\n" for i in range(4))))
    assert _run(capsys, "ingest", str(logs), *args)[0] == 0
    out = _run(capsys, "status", "--db", sqlite_url, "--format", "json")[1]
    points = {Path(rp["path"]).name: rp for rp in json.loads(out)["sources"][0]["resume_points"]}
    assert sorted(points) == ["app.log", "app.log.1", "old.jsonl.gz"]
    assert points["app.log.1"]["offset"] == (logs / "app.log.1").stat().st_size
    code, out, _ = _run(capsys, "status", "--db", sqlite_url)
    assert code == 0
    unpacked = len(gzip.decompress(packed.read_bytes()))
    assert f"resume point {packed}: complete, {unpacked:,} bytes decompressed" in out
    # deleted by retention, rewritten in place: the points stay (their content must never be read
    # twice) and say that it is no longer there
    (logs / "app.log.1").unlink()
    size = (logs / "app.log").stat().st_size
    write_lines(logs / "app.log", [track(user="w")])
    out = _run(capsys, "status", "--db", sqlite_url)[1]
    lines = dict(line.strip().split(": ", 1) for line in out.splitlines() if "resume point" in line)
    assert lines[f"resume point {logs / 'app.log.1'}"].endswith(" (file gone; the point is kept so its content is never read twice)")
    assert lines[f"resume point {logs / 'app.log'}"] == f"{size:,}/{size:,} bytes (other content at this path now: the file was rotated or rewritten)"
    assert lines[f"resume point {packed}"] == f"complete, {unpacked:,} bytes decompressed"  # still there


def test_status_counts_an_event_name_sent_in_two_environments_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_url: str
) -> None:
    """Two names in production and staging were '4 event names' (the count of each environment, added)."""
    path = write_lines(tmp_path / "e.jsonl", [track(), track("Order Completed")])
    for env in ("production", "staging"):
        args = ("--source", "web", "--environment", env, "--final-line-grace", "0s", "--no-progress")
        assert _run(capsys, "ingest", str(path), "--db", sqlite_url, *args)[0] == 0
        path = write_lines(tmp_path / f"{env}.jsonl", [track(user="v"), track("Order Completed", user="v")])
    (source,) = json.loads(_run(capsys, "status", "--db", sqlite_url, "--format", "json")[1])["sources"]
    assert (source["environments"], source["events"], source["event_names"]) == (["production", "staging"], 4, 2)
    assert "source web [production, staging]: 4 events in 2 event names" in _run(capsys, "status", "--db", sqlite_url)[1]


def test_status_of_an_empty_database(capsys: pytest.CaptureFixture[str], sqlite_url: str) -> None:
    assert _run(capsys, "migrate", "--db", sqlite_url)[0] == 0
    code, out, _ = _run(capsys, "status", "--db", sqlite_url)
    assert code == 0 and "(no buckets yet)" in out and "no sources ingested yet" in out


def test_ingest_json_report(capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_url: str) -> None:
    path = write_lines(tmp_path / "e.jsonl", [track(user=f"u{i}") for i in range(3)] + ["{oops"])
    code, out, _ = _run(capsys, "ingest", str(path), "--db", sqlite_url, "--source", "web", "--format", "json",
                        "--final-line-grace", "0s", "--no-progress")  # fmt: skip
    report = json.loads(out)
    assert code == 0
    assert {k: report[k] for k in ("source", "events", "rejected", "bytes")} == {
        "source": "web", "events": 3, "rejected": 1, "bytes": path.stat().st_size,
    }  # fmt: skip
    assert [(f["status"], f["events"], f["rejected"]) for f in report["files"]] == [("read", 3, 1)]
    # wall and CPU time of the run (the CPU time of every thread: the scanner reads on two)
    assert report["seconds"] > 0 and report["cpu_seconds"] > 0


def test_ingest_max_property_keys(capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_url: str) -> None:
    path = write_lines(tmp_path / "e.jsonl", [track(user="u", cart_id="c", items=[], cart_value=1, **{f"k{i}": i})
                                              for i in range(4)])  # fmt: skip
    code, _, err = _run(capsys, "ingest", str(path), "--db", sqlite_url, "--max-property-keys", "-1")
    assert code == 2 and "--max-property-keys must be 0 (no limit) or more, not -1" in err and "Traceback" not in err
    code, _, err = _run(capsys, "ingest", str(path), "--db", sqlite_url, "--source", "web", "--final-line-grace", "0s",
                        "--no-progress", "--max-property-keys", "2")  # fmt: skip
    assert code == 0
    assert f"warning: {path}: 2 new property keys over the budget of 2 unplanned keys per event" in err


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--bucket", "7x", "--bucket: not a duration: '7x' (use e.g. 30s, 5m, 1h, 1d)"),
    ("--bucket", "0m", "--bucket: a bucket must divide a day and be at least 1m (e.g. 1m, 5m, 15m, 1h), not '0m'"),
    ("--bucket", "7m", "--bucket: a bucket must divide a day and be at least 1m (e.g. 1m, 5m, 15m, 1h), not '7m'"),
    ("--final-line-grace", "5q", "--final-line-grace: not a duration: '5q' (use e.g. 30s, 5m, 1h, 1d)"),
])  # fmt: skip
def test_ingest_bad_durations_are_clear_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_url: str,
                                               flag: str, value: str, message: str) -> None:  # fmt: skip
    path = write_lines(tmp_path / "e.jsonl", [track()])
    code, _, err = _run(capsys, "ingest", str(path), "--db", sqlite_url, flag, value)
    assert (code, err.strip()) == (2, f"error: {message}")


def test_missing_input_path_is_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_url: str) -> None:
    code, _, err = _run(capsys, "ingest", str(tmp_path / "nope.jsonl"), "--db", sqlite_url)
    assert code == 3 and "no such file or directory" in err and "Traceback" not in err


def test_unreachable_database_is_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_lines(tmp_path / "e.jsonl", [track()])
    code, _, err = _run(capsys, "ingest", str(path), "--db", "postgresql://u:hunter2@127.0.0.1:1/x")
    assert code == 4 and "cannot reach the database" in err and "hunter2" not in err


@pytest.mark.parametrize("url", ["postgresql://u:pw@127.0.0.1:notaport/db", "postgresql://u:pw@[::1/db"])
def test_a_malformed_database_url_is_a_clear_error(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, _, err = _run(capsys, "status", "--db", url)
    assert code == 4 and "not a database URL" in err and "Traceback" not in err and "pw" not in err


def test_a_password_in_the_url_query_is_hidden(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EHM_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/x?password=S3cretPW&sslmode=disable")
    code, _, err = _run(capsys, "status")
    assert code == 4 and "S3cretPW" not in err
    assert "postgresql+psycopg://postgres@127.0.0.1:1/x?password=***&sslmode=disable" in err


@pytest.mark.parametrize(("database", "message"), [
    ("url_env: PROD_DB_URL", "database.url_env is PROD_DB_URL, which is not set: export it with the database URL, "
                             "or drop url_env to use the default sqlite:///data/ehm.sqlite"),
    ("url_env: 'postgresql://x@h/db'", "url_env names an environment variable (e.g. EHM_DATABASE_URL), not a URL"),
    ("url: 'postgresql://u:PASSWORD@127.0.0.1/x'", "database.url holds a password: secrets come from the environment"),
    ("url: 'postgresql://u@127.0.0.1/x?password=PASSWORD'", "database.url holds a password"),
])  # fmt: skip
def test_database_config_mistakes_are_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch, database: str, message: str) -> None:  # fmt: skip
    """A cron job without the variable its config names once wrote to a local SQLite file, exit 0."""
    monkeypatch.delenv("PROD_DB_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "ehm.yaml"
    config.write_text(f"database:\n  {database}\n")
    code, _, err = _run(capsys, "status", "--config", str(config))
    assert code == 2 and message in err and "PASSWORD" not in err
    assert not (tmp_path / "data").exists()


def test_config_file_mistakes_and_a_plan_beside_it(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    conf = tmp_path / "conf"
    conf.mkdir()
    log = write_lines(tmp_path / "e.jsonl", [track()])
    (conf / "dup.yaml").write_text(f"sources:\n  - {{name: a, paths: ['{log}']}}\nsources:\n  - {{name: b, paths: ['{log}']}}\n")
    code, _, err = _run(capsys, "ingest", "--config", str(conf / "dup.yaml"))
    assert code == 2 and "duplicate key 'sources'" in err
    (conf / "two.yaml").write_text(f"sources:\n  - {{name: a, paths: ['{log}']}}\n  - {{name: b, paths: ['{log}']}}\n")
    code, _, err = _run(capsys, "ingest", "--config", str(conf / "two.yaml"))
    assert (code, err.strip()) == (2, "error: 2 sources are configured (a, b): pick one with --source NAME")
    # a plan named relative to the config file, from another working directory
    (conf / "plan.yaml").write_text("name: mine\nevents:\n  Added to Cart:\n    required: {cart_id: string}\n")
    (conf / "ehm.yaml").write_text(f"plan: plan.yaml\nsources:\n  - {{name: web, paths: ['{log}'], final_line_grace: 0s}}\n")
    monkeypatch.chdir(tmp_path)
    db = f"sqlite:///{tmp_path / 'p.sqlite'}"
    code, _, err = _run(capsys, "ingest", "--config", str(conf / "ehm.yaml"), "--db", db, "--no-progress")
    assert code == 0, err
    code, out, _ = _run(capsys, "metrics", "--db", db, "--format", "json")
    assert json.loads(out)[0]["violations"] == {"unplanned_property": 1}  # items, cart_value: not in this plan


def test_a_plan_in_another_spelling_checks_items(capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_url: str) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("version: 2\nevents:\n  - name: Order Completed\n    properties:\n      order_id: {type: string, required: true}\n"
                    "      items: {type: array, required: true}\n      items[].product_id: {type: string, required: true}\n"
                    "identify:\n  traits: {email: string}\n")  # fmt: skip
    good = track("Order Completed", order_id="o1", items=[{"product_id": "p1"}])
    lines = [good, track("Order Completed", order_id="o2", items=[{"sku": "s"}]), track("Order Completed", items=[])]
    path = write_lines(tmp_path / "e.jsonl", lines)
    code, _, err = _run(capsys, "ingest", str(path), "--db", sqlite_url, "--plan", str(plan))
    assert code == 0, err
    code, out, _ = _run(capsys, "metrics", "--db", sqlite_url, "--format", "json", "--bucket", "1d")
    rec = json.loads(out)[0]
    assert (rec["event"], rec["count"], rec["conforming"]) == ("Order Completed", 3, 1)
    assert rec["violation_details"] == {"missing_required_property:items[].product_id": 1, "missing_required_property:order_id": 1,
                                        "missing_entity_id:order_id": 1}  # fmt: skip


def test_unreadable_plan_is_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_url: str) -> None:
    path = write_lines(tmp_path / "e.jsonl", [track()])
    bad = tmp_path / "plan.yaml"
    bad.write_text("events:\n  X:\n    required: {a: strng}\n")
    code, _, err = _run(capsys, "ingest", str(path), "--db", sqlite_url, "--plan", str(bad))
    assert code == 5 and "unknown type 'strng'" in err
    code, _, err = _run(capsys, "ingest", str(path), "--db", sqlite_url, "--plan", str(tmp_path / "missing.yaml"))
    assert code == 5 and "cannot read tracking plan" in err


def test_unknown_config_keys_are_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cfg = tmp_path / "ehm.yaml"
    cfg.write_text("bucket: 5m\nsources:\n  - name: web\n    paths: [x]\n    enviroment: prod\n")
    code, _, err = _run(capsys, "status", "--config", str(cfg))
    assert code == 2 and "sources.0.enviroment: unknown key" in err


def test_readers_refuse_an_unmigrated_database(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import sqlite3

    sqlite3.connect(tmp_path / "empty.sqlite").close()  # a database file without the schema
    code, _, err = _run(capsys, "metrics", "--db", f"sqlite:///{tmp_path / 'empty.sqlite'}")
    assert code == 4 and "not migrated" in err


def test_readers_do_not_create_a_missing_database(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """``status`` on a mistyped path created its folder and an empty database, then said 'not migrated'."""
    missing = tmp_path / "nope" / "ehm.sqlite"
    for command in ("status", "metrics", "rejects"):
        code, _, err = _run(capsys, command, "--db", f"sqlite:///{missing}")
        assert code == 4 and f"no database at {missing} — ingest into it first" in err
    assert not (tmp_path / "nope").exists()


def test_rejects_command_lists_reasons(capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_url: str) -> None:
    path = write_lines(tmp_path / "e.jsonl", ["oops", track()])
    _run(capsys, "ingest", str(path), "--db", sqlite_url, "--final-line-grace", "0s")
    code, out, _ = _run(capsys, "rejects", "--db", sqlite_url, "--format", "json")
    assert code == 0
    (row,) = json.loads(out)
    assert (row["source"], row["reason"], row["count"], row["samples"][0]["sample"]) == ("default", "invalid_json", 1, "oops")


def test_rejects_are_redacted_as_they_are_shown(capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_url: str) -> None:
    """A sample stored by an older version, before secrets were dropped from text samples, is
    redacted again on the way out (as the dashboard does)."""
    path = write_lines(tmp_path / "e.jsonl", ["oops", track()])
    _run(capsys, "ingest", str(path), "--db", sqlite_url, "--final-line-grace", "0s")
    store = Store.from_url(sqlite_url)
    with store.engine.begin() as conn:
        conn.execute(update(reject_samples).values(sample='{"email": "jane@example.com", "password": "hunter2secret", '))
    store.dispose()
    code, out, _ = _run(capsys, "rejects", "--db", sqlite_url, "--format", "json")
    (row,) = json.loads(out)
    (sample,) = [s["sample"] for s in row["samples"]]
    assert code == 0 and "jane@example.com" not in sample and "hunter2secret" not in sample
    assert "@example.com" in sample  # the domain stays, as everywhere samples are shown


def test_check_config_lists_every_problem(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cfg = tmp_path / "ehm.yaml"
    cfg.write_text(f"plan: {tmp_path / 'missing.yaml'}\nsources:\n  - name: a\n    paths: [x]\n  - name: a\n    paths: [y]\n")
    code, _, err = _run(capsys, "check-config", "--config", str(cfg), "--no-env")
    assert code == 2
    assert "cannot read tracking plan" in err and "sources: names must be unique" in err


def test_check_config_accepts_a_good_config(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    write_lines(logs / "a.jsonl", [track()])
    cfg = tmp_path / "ehm.yaml"
    cfg.write_text(f"sources:\n  - name: web\n    paths: ['{logs}']\nleakage:\n  qa_identities: [qa-bot]\n")
    code, out, _ = _run(capsys, "check-config", "--config", str(cfg), "--no-env")
    assert code == 0 and "source web [production]: 1 file(s)" in out and out.strip().endswith("config OK")


@pytest.mark.parametrize(("argv", "command"), [
    (["stand-in", "--help"], "standin"),
    (["-v", "check-config", "--help"], "check_config"),
    (["metrics", "--help"], "metrics"),
    (["--help"], None),
    (["no-such-command"], None),
])  # fmt: skip
def test_a_command_imports_only_what_it_needs(argv: list[str], command: str | None) -> None:
    """One-shot commands (cron) do not pay for every other command's imports; help and unknown
    words still see every command."""
    import subprocess
    import sys

    code = (
        "import json, sys\nfrom monitors.cli import build_parser\n"
        f"build_parser({argv!r})\n"
        "print(json.dumps(sorted(m.rsplit('.', 1)[1] for m in sys.modules if m.startswith('monitors.commands.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout  # fmt: skip
    loaded = set(json.loads(out))
    others = {"worker", "demo", "backtest", "warehouse"}
    if command is None:
        assert {"alerts", "ingest", "metrics", "standin", "check_config"} | others <= loaded
    else:
        assert command in loaded and not loaded & others
