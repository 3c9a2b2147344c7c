"""``backtest --csv``: any reasonable CSV works, bad ones fail with a clear message (no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitors.cli import main
from monitors.detectors.backtest import detect_step, load_csv
from monitors.errors import InputError


def _write(path: Path, rows: list[str], header: str = "timestamp,value") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _hourly(path: Path, days: int = 60, drop_day: int = 50) -> Path:
    times = pd.date_range("2024-03-04", periods=24 * days, freq="h", tz="UTC")
    hours = times.hour.to_numpy()
    mu = 120 * (1 + 0.6 * np.sin((hours - 9) / 24 * 2 * np.pi))
    mu[drop_day * 24 + 10 : drop_day * 24 + 16] *= 0.3
    counts = np.random.default_rng(1).poisson(mu)
    frame = pd.DataFrame({"ts": times.strftime("%Y-%m-%d %H:%M:%S+00:00"), "n": counts}).sample(
        frac=1, random_state=2
    )
    frame.to_csv(path, index=False)
    return path


def test_backtest_prints_one_record_per_incident(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _hourly(tmp_path / "h.csv")
    code = main(["backtest", "--csv", str(path), "--time-col", "ts", "--value-col", "n", "--format", "json"])
    assert code == 0
    records = json.loads(capsys.readouterr().out)
    assert [(r["direction"], r["kind"], r["started_at"]) for r in records] == [
        ("drop", "volume_drop", "2024-04-23T10:00:00Z")
    ]
    assert records[0]["ended_at"] is not None and records[0]["observed"] < records[0]["expected"]
    assert set(records[0]) >= {"started_at", "ended_at", "direction", "peak_score", "observed", "expected"}


def test_backtest_csv_format_and_summary_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _hourly(tmp_path / "h.csv")
    assert (
        main(["backtest", "--csv", str(path), "--time-col", "ts", "--value-col", "n", "--format", "csv"]) == 0
    )
    out = capsys.readouterr()
    assert out.out.splitlines()[0] == "started_at,ended_at,direction,kind,peak_score,observed,expected,title"
    assert "1440 buckets of 3600s (counts); 1 incidents" in out.err


@pytest.mark.parametrize(
    "rows,step",
    [
        (["2024-01-01T00:00:00Z,1", "2024-01-01T00:01:00Z,2", "2024-01-01T00:02:00Z,3"], 60),
        (["2024-01-01 00:00,1", "2024-01-01 05:00,2", "2024-01-01 10:00,3"], 18000),
        (["2024-01-01,1", "2024-01-02,2", "2024-01-04,3", "2024-01-03,4"], 86400),
        (["2024-01-01T01:00:00+01:00,1", "2024-01-01T00:15:00Z,2", "2024-01-01T00:30:00Z,3"], 900),
        (["1704067200,1", "1704067500,2", "1704067800,3"], 300),
        (["1704067200000,1", "1704067500000,2", "1704067800000,3"], 300),
    ],
    ids=["1m-z", "5h-naive", "1d-unsorted", "offsets", "epoch-s", "epoch-ms"],
)
def test_step_is_found_whatever_the_timestamp_style(tmp_path: Path, rows: list[str], step: int) -> None:
    series = load_csv(_write(tmp_path / "s.csv", rows))
    assert series.width == step
    assert series.times[0] == 1704067200


def test_gaps_duplicates_and_rates(tmp_path: Path) -> None:
    rows = [
        "2024-01-01T00:00:00Z,1",
        "2024-01-01T00:00:00Z,2",
        "2024-01-01T01:00:00Z,3",
        "2024-01-01T03:00:00Z,4",
    ]
    series = load_csv(_write(tmp_path / "d.csv", rows))
    assert series.values.tolist()[:2] == [3.0, 3.0] and np.isnan(series.values[2])
    assert series.kind == "counts" and "1 duplicate timestamps summed" in series.notes
    with pytest.raises(InputError, match="appears more than once"):
        load_csv(tmp_path / "d.csv", duplicates="error")
    rates = load_csv(
        _write(
            tmp_path / "r.csv",
            ["2024-01-01T00:00:00Z,0.5", "2024-01-01T01:00:00Z,0.25", "2024-01-01T02:00:00Z,1"],
        )
    )
    assert rates.kind == "rates"


@pytest.mark.parametrize(
    "rows,header,message",
    [
        (["2024-01-01T00:00:00Z,1"], "time,value", "no column 'timestamp' (columns: time, value)"),
        (
            ["2024-01-01T00:00:00Z,abc", "2024-01-01T01:00:00Z,1", "2024-01-01T02:00:00Z,1"],
            "timestamp,value",
            "'abc' in row 2 is not a number",
        ),
        (
            ["2024-01-01T00:00:00Z,-1", "2024-01-01T01:00:00Z,1", "2024-01-01T02:00:00Z,1"],
            "timestamp,value",
            "negative value in row 2",
        ),
        (
            ["2024-01-01,1", "2024-01-03,1", "2024-01-05,1"],
            "timestamp,value",
            "step between timestamps is 2d",
        ),
        (
            ["2024-01-01T00:00:00Z,1", "2024-01-01T00:00:30Z,1", "2024-01-01T00:01:00Z,1"],
            "timestamp,value",
            "is 30s",
        ),
        (["not a date,1", "2024-01-01T00:00:00Z,1", "x,2"], "timestamp,value", "cannot read the timestamps"),
        (["2024-01-01T00:00:00Z,1"], "timestamp,value", "at least 3 distinct timestamps"),
    ],
    ids=["missing-column", "not-a-number", "negative", "two-days", "thirty-seconds", "bad-time", "too-short"],
)
def test_bad_input_is_a_clear_error_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: list[str], header: str, message: str
) -> None:
    path = _write(tmp_path / "bad.csv", rows, header)
    assert main(["backtest", "--csv", str(path)]) == 3
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", "--csv", str(tmp_path / "nope.csv")]) == 3
    assert "no such file" in capsys.readouterr().err


def test_irregular_timestamps_are_rejected() -> None:
    epochs = np.array([0, 60, 120, 185, 250, 311, 377, 440, 500], dtype=np.int64) + 1704067200
    with pytest.raises(InputError, match="not on a regular"):
        detect_step(epochs)
