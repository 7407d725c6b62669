"""Per-build compiler cache counts from ccache's ``stats_log`` (``CCACHE_STATSLOG``).

``ccache --print-stats`` counts the whole cache, which other builds share; the stats log
holds one record per ccache call of *this* build: ``# SOURCE`` then one counter per line."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class CacheStats:
    """Compiles of one build: hits from the local cache and from the remote storage, misses,
    calls ccache could not cache, and how many calls met a remote storage error."""

    local_hits: int = 0
    remote_hits: int = 0
    misses: int = 0
    uncacheable: int = 0
    remote_errors: int = 0

    @property
    def cacheable(self) -> int:
        return self.local_hits + self.remote_hits + self.misses

    def remote_hit_rate(self) -> float:
        return self.remote_hits / self.cacheable if self.cacheable else 0.0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def summary(self) -> str:
        text = (f"ccache: {self.local_hits} local hits, {self.remote_hits} remote hits, "
                f"{self.misses} misses")
        if self.remote_errors:
            text += f", {self.remote_errors} remote storage errors"
        return text


def read_stats_log(path: Path) -> CacheStats:
    stats = CacheStats()
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return stats
    for record in text.split("# ")[1:]:
        counters = set(record.splitlines()[1:])
        if "remote_storage_error" in counters:
            stats.remote_errors += 1
        if counters & {"direct_cache_hit", "preprocessed_cache_hit"}:
            if "remote_storage_hit" in counters and "local_storage_hit" not in counters:
                stats.remote_hits += 1
            else:
                stats.local_hits += 1
        elif "cache_miss" in counters:
            stats.misses += 1
        else:
            stats.uncacheable += 1
    return stats
