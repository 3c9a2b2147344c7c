"""The detection pipeline against a real Store: live runs equal the backtest, runs are
idempotent, findings open and resolve, bands are stored, later detectors can suppress drafts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitors.cli import main
from monitors.config import Config
from monitors.detect import run_detection
from monitors.detectors.backtest import Series, backtest
from monitors.detectors.base import DataRequest, DetectorInputs, DetectorOutput, DetectorState, SeriesKey
from monitors.detectors.volume import VolumeDetector
from monitors.timeutil import from_epoch, iso
from storage import Store
from tests.monitors.detectors.fixtures import DAY, T0, WIDTH, counts_frame, diurnal, grid, store_counts


def _history(days: int = 17, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    times = grid(days)
    mu = diurnal(times, 200.0)
    mu[(times >= T0 + 15 * DAY) & (times < T0 + 15 * DAY + 7200)] *= 0.4  # a broken deploy
    mu[(times >= T0 + 16 * DAY) & (times < T0 + 16 * DAY + 1800)] *= 3.0  # a bot
    return times, np.random.default_rng(seed).poisson(mu)


def _incidents(findings: list[object]) -> list[tuple[str, str, str | None, float]]:
    out = []
    for f in findings:
        ended = f.ended_at  # type: ignore[attr-defined]
        out.append((f.kind, iso(f.started_at), iso(ended) if ended else None, round(f.score, 6)))  # type: ignore[attr-defined]
    return sorted(out)


def test_live_runs_bucket_by_bucket_equal_the_backtest(store: Store) -> None:
    times, counts = _history()
    store_counts(store, counts_frame(times, counts))
    config = Config()
    for now in range(T0 + 14 * DAY, T0 + 17 * DAY + 1, 2 * 3600 + 5 * 60):
        run_detection(store, config, now=from_epoch(now))
    run_detection(store, config, now=from_epoch(T0 + 17 * DAY + 600))
    live = [f for f in store.list_findings() if f.kind != "new_event"]
    replay = backtest(Series(times=times, values=counts.astype(float), width=WIDTH, kind="counts"))
    assert _incidents(live) == _incidents(replay)
    assert [k for k, *_ in _incidents(live)] == ["volume_drop", "volume_spike"]
    assert all(f.status == "resolved" for f in live)


def test_detect_is_idempotent_for_the_same_now(store: Store) -> None:
    times, counts = _history()
    store_counts(store, counts_frame(times, counts))
    now = from_epoch(T0 + 15 * DAY + 3600)
    first = run_detection(store, Config(), now=now)
    assert len(first.opened) == 1
    before = [(f.fingerprint, f.status, f.updated_at, f.score) for f in store.list_findings()]
    second = run_detection(store, Config(), now=now)
    assert (second.opened, second.updated, second.resolved) == ([], [], [])
    assert [(f.fingerprint, f.status, f.updated_at, f.score) for f in store.list_findings()] == before


def test_an_open_drop_is_updated_then_resolved_and_bands_are_stored(store: Store) -> None:
    times, counts = _history()
    store_counts(store, counts_frame(times, counts))
    run_detection(store, Config(), now=from_epoch(T0 + 15 * DAY + 1800))
    (opened,) = store.list_findings(status="open")
    assert opened.kind == "volume_drop" and opened.ended_at is None
    assert opened.evidence["model"] in {"hour_of_day", "hour_of_week", "day_and_hour"}
    run_detection(store, Config(), now=from_epoch(T0 + 15 * DAY + 3600))
    assert store.get_finding(opened.fingerprint).updated_at == from_epoch(T0 + 15 * DAY + 3600)  # type: ignore[union-attr]
    run_detection(store, Config(), now=from_epoch(T0 + 15 * DAY + 5 * 3600))
    done = store.get_finding(opened.fingerprint)
    assert done is not None and done.status == "resolved" and done.ended_at is not None
    bands = store.read_bands(since=T0 + 15 * DAY, until=T0 + 15 * DAY + 3600)
    assert len(bands) == 12 and bands["anomalous"].sum() >= 6
    assert (bands["lower"] <= bands["upper"]).all()


class _Explains:
    """A stand-in for a later detector (e.g. rename) that explains every volume drop."""

    name, order, kinds = "explains", 50, ("rename",)

    def plan(
        self,
        now: datetime,
        bucket_seconds: int,
        series: pd.DataFrame,
        state: Mapping[SeriesKey, DetectorState],
    ) -> DataRequest:
        return DataRequest()

    def run(self, inputs: DetectorInputs) -> DetectorOutput:
        return DetectorOutput(suppress={d.fingerprint for d in inputs.prior if d.kind == "volume_drop"})


def test_marking_a_new_level_expected_adapts_the_baseline_now_or_keeps_it(store: Store) -> None:
    """A lasting doubling on three events: marked expected with ``adapt`` the episode ends at the
    next run and the new level is normal; with ``keep`` it is never adapted to; unmarked, it is
    adapted to after ``adapt_after`` (3 days)."""
    times = grid(19)
    rng = np.random.default_rng(11)
    step = np.where(times >= T0 + 14 * DAY, 2.0, 1.0)
    frames = [counts_frame(times, rng.poisson(diurnal(times, 200.0) * step), event=e) for e in ("A", "B", "C")]
    store_counts(store, pd.concat(frames, ignore_index=True))
    config = Config()
    run_detection(store, config, now=from_epoch(T0 + 14 * DAY + 3600))
    found = {f.event: f for f in store.list_findings(kind=["volume_spike"])}
    assert sorted(found) == ["A", "B", "C"] and all(f.ended_at is None for f in found.values())
    store.mark_expected(found["A"].fingerprint, actor="ana", baseline="adapt")
    store.mark_expected(found["B"].fingerprint, actor="ana", baseline="keep")

    run_detection(store, config, now=from_epoch(T0 + 14 * DAY + 2 * 3600))
    after = {f.event: f for f in store.list_findings(kind=["volume_spike"])}
    assert after["A"].ended_at is not None and after["A"].status == "expected"
    assert after["A"].evidence["adapted"] is True
    assert after["B"].ended_at is None and after["C"].ended_at is None

    run_detection(store, config, now=from_epoch(T0 + 18 * DAY + 600))
    final = store.list_findings()
    by_event = {e: [f for f in final if f.event == e] for e in ("A", "B", "C")}
    assert [f.fingerprint for f in by_event["A"]] == [found["A"].fingerprint]  # the new level is normal
    assert [f.fingerprint for f in by_event["B"]] == [found["B"].fingerprint]
    assert by_event["B"][0].ended_at is None and by_event["B"][0].status == "expected"  # kept: still going
    (c,) = by_event["C"]
    assert c.ended_at is not None and c.evidence["adapted"] is True
    assert c.ended_at - c.started_at >= timedelta(days=3)


def test_a_later_detector_sees_earlier_drafts_and_can_suppress_them(store: Store) -> None:
    times, counts = _history()
    store_counts(store, counts_frame(times, counts))
    config = Config()
    run_detection(store, config, now=from_epoch(T0 + 15 * DAY + 1800))
    (opened,) = store.list_findings(status="open")
    detectors = [VolumeDetector(config.detectors.volume), _Explains()]
    report = run_detection(store, config, now=from_epoch(T0 + 15 * DAY + 3600), detectors=detectors)  # type: ignore[list-item]
    assert report.suppressed == [opened.fingerprint]
    assert store.get_finding(opened.fingerprint).status == "resolved"  # type: ignore[union-attr]


def test_cli_detect_and_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'ehm.sqlite'}"
    assert main(["migrate", "--db", url]) == 0
    times, counts = _history()
    store = Store.from_url(url)
    store_counts(store, counts_frame(times, counts))
    capsys.readouterr()
    assert main(["detect", "--db", url, "--now", iso(T0 + 15 * DAY + 1800)]) == 0
    assert '"opened": 1' in capsys.readouterr().out
    assert main(["findings", "--db", url, "--status", "open", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        lines[0].startswith("id,fingerprint,kind,status")
        and len(lines) == 2
        and ",volume_drop,open," in lines[1]
    )
    assert main(["findings", "--db", url, "--act", "acknowledge", "--id", "1", "--by", "ana"]) == 0
    assert '"status": "acknowledged"' in capsys.readouterr().out
    assert main(["findings", "--db", url, "--act", "expected", "--id", "1", "--by", "ana", "--baseline", "adapt"]) == 0
    assert '"status": "expected"' in (out := capsys.readouterr().out) and '"baseline": "adapt"' in out
    assert main(["detect", "--db", url, "--now", "yesterday"]) == 3
    assert "is not an ISO 8601 time" in capsys.readouterr().err
