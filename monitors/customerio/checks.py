"""Cross-checks of the ``customerio:`` section against the rest of the config and the
environment, without side effects (no network, no database). Used by ``customerio check-config``
and available to a global ``check-config``."""

from __future__ import annotations

from collections.abc import Mapping

from monitors.config import Config
from monitors.timeutil import parse_duration


def config_problems(config: Config, environ: Mapping[str, str], *, check_env: bool = True) -> list[str]:
    """What would stop collection or reconciliation from working, one sentence each ([] when fine)."""
    cio = config.customerio
    if cio is None:
        return []
    problems: list[str] = []
    if check_env and not (environ.get(cio.app_api_key_env) or "").strip():
        problems.append(f"customerio: the App API key variable {cio.app_api_key_env} is not set — export it")
    known = {s.name for s in config.sources}
    unknown = [s for s in cio.reconcile.sources if known and s not in known]
    if unknown:
        problems.append(f"customerio.reconcile.sources: {unknown} are not configured sources ({sorted(known)})")
    if cio.activity_types and not {"event"} & set(cio.activity_types):
        problems.append("customerio.activity_types does not read `event`: reconciliation will judge nothing")
    if parse_duration(cio.reconcile.settle) < config.bucket_seconds // 2:
        problems.append("customerio.reconcile.settle is under half a bucket: late activities may look like losses")
    return problems
