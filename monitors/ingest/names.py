"""The event-name budget: a source keeps at most ``max_event_names`` distinct track event names.

Event names that carry ids (``Viewed product 12345``, a URL per page) turn one series into
hundreds of thousands: every name is a series with its own sketches, so such a log once took
18 GB of memory and two minutes for a 29 MB file, and would bury every real event in the
dashboard. A source's known names always count as themselves; new names are admitted, most
frequent first (ties by name), while the source has fewer than ``max_event_names``; the rest count
as :data:`OVERFLOW_NAME`, whose samples keep the real lines.

The native scanner gives up on a read past the budget (``TooManyNames``), and the pipeline reads
that part again with the admitted names fixed in advance from :func:`track_name_counts`; the
DuckDB path maps names the same way (:func:`overflow_rows`), so both readers store the same rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitors.ingest import sqlgen

if TYPE_CHECKING:
    import duckdb

OVERFLOW_NAME = "(other events)"
DEFAULT_MAX_NAMES = 2000
_counter = itertools.count()


@dataclass(frozen=True)
class Admission:
    """Which track names of a read count as themselves."""

    admitted: tuple[str, ...]  # the known names and the new ones admitted, sorted
    new: int  # distinct new names in the read
    overflowed: int  # of which counted as OVERFLOW_NAME
    examples: tuple[str, ...]  # the most frequent overflowed names (up to 3)

    def describe(self, budget: int) -> str:
        """What happened, for the run's warning."""
        shown = ", ".join(repr(e[:60]) for e in self.examples)
        return (f"{self.new:,} new event names, over the budget of {budget:,} names for this source: "
                f"{self.overflowed:,} of them are counted as {OVERFLOW_NAME!r} (most frequent: {shown}); "
                "names that carry ids belong in properties")  # fmt: skip


def scanner_cap(budget: int, known: set[str]) -> int:
    """The distinct names a scanner may meet before it gives up on a read (``TooManyNames``:
    memory stays bounded; :func:`over_budget` is the exact check), 0 for no limit."""
    return budget + len(known) if budget > 0 else 0


def over_budget(seen: Iterable[str], known: set[str], budget: int) -> bool:
    """Whether the track names ``seen`` in a read would take the source past ``budget`` names."""
    if budget <= 0:
        return False
    new = {n for n in seen if n not in known and n != OVERFLOW_NAME}
    return len(new) > max(0, budget - len(known - {OVERFLOW_NAME}))


def admit(counts: dict[str, int], known: set[str], budget: int) -> Admission:
    """The names of a read (with their message counts) that count as themselves: every known
    name, then new ones, most frequent first (ties by name), while the source has room."""
    known = known - {OVERFLOW_NAME}
    new = sorted((n for n in counts if n not in known and n != OVERFLOW_NAME), key=lambda n: (-counts[n], n))
    room = max(0, budget - len(known))
    admitted, rest = new[:room], new[room:]
    return Admission(tuple(sorted(known | set(admitted))), len(new), len(rest), tuple(rest[:3]))


def track_name_counts(con: duckdb.DuckDBPyConnection, path: str) -> dict[str, int]:
    """Messages per track event name in a plain JSON-lines file: single messages, and the messages
    and Track v2 operations of batch bodies, names as the readers store them (at most 255
    characters). Lines that are not JSON are passed over: the counts only order the new names, the
    same way for both readers."""
    msg = '{"type": "VARCHAR", "event": "JSON", "name": "JSON", "action": "VARCHAR", "identifiers": "JSON"}'
    rows = con.execute(f"""
        WITH lines AS (
          SELECT ltrim(line, chr(0)) AS line FROM read_csv({sqlgen.sql_str(path)}, columns = {{'line': 'VARCHAR'}}, delim = '\x01', quote = '',
                                    escape = '', header = false, auto_detect = false, strict_mode = false,
                                    new_line = '\\n', ignore_errors = true, max_line_size = {16 << 20})),
        msgs AS (
          SELECT {sqlgen.parse_json("line", sqlgen.sql_str(msg))} AS j FROM lines
          UNION ALL
          SELECT unnest({sqlgen.parse_json("line", sqlgen.sql_str('{"batch": [' + msg + ']}'))}.batch) AS j FROM lines),
        named AS (  -- a name that is not a JSON string is a reject (bad_event_name), never a series
          SELECT j, v2, CASE WHEN v2 THEN j.name ELSE j.event END AS n FROM (
            SELECT j, (j.action IS NOT NULL AND j.identifiers IS NOT NULL) AS v2 FROM msgs))
        SELECT left(n ->> '$', 255) AS event, count(*) AS n FROM named
        WHERE ((j.type = 'track' AND NOT v2) OR (v2 AND j.type = 'person' AND j.action = 'event')) AND json_type(n) = 'VARCHAR'
        GROUP BY 1 HAVING event IS NOT NULL""").fetchall()
    return {str(name): int(n) for name, n in rows}


def overflow_rows(con: duckdb.DuckDBPyConnection, rows: str, admitted: tuple[str, ...]) -> str:
    """``rows`` (the readers' normalised rows) with every track name not in ``admitted`` replaced
    by :data:`OVERFLOW_NAME` (the names go to a temporary table of this connection)."""
    table = f"ehm_admitted_{next(_counter)}"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT unnest($names::VARCHAR[]) AS name",
                {"names": list(admitted)})  # fmt: skip
    return (f"SELECT * REPLACE (CASE WHEN msg_type = 'track' AND event IS NOT NULL AND event NOT IN "
            f"(SELECT name FROM {table}) THEN {sqlgen.sql_str(OVERFLOW_NAME)} ELSE event END AS event) FROM ({rows})")
