"""``--shard K/N``: which (codec, utterance) pairs each of N shards runs, balanced by estimated cost.

A pair's cost is its utterance's duration times (``METRIC_COST`` + the codec's cost per second of
audio): ``CODEC_COST`` by codec family, ``NEURAL_COST`` for every other family (neural and in-house
codecs, plugins). Measured on a 2-core CPU (16 kHz Hindi, seconds of work per second of audio):
opus-6kbps 0.02, ours-rvq 1.45 and ours-fsq 1.2 to reconstruct, PESQ-wb + STOI 0.05; ASR and
speaker models add more per row to every codec alike. The estimate only has to order the pairs.

The split is the longest-processing-time rule: pairs in decreasing cost (ties by codec, then
utterance id), each to the shard with the least cost so far (ties: the lowest K). In integers (cost
in milli-units), so every machine computes the same split; the costs per codec are recorded in the
shard's ``config.json`` (``shard_costs``) and ``merge`` splits with the recorded ones. Greedy LPT keeps
the most and least loaded shards within one pair's cost of each other.

A shard folder written before this split (no ``shard_costs``) keeps the split it was made with: a
stable hash of the pair, mod N.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable

CODEC_COST = {"opus": 0.05, "pairs": 0.0}  # seconds of work per second of audio, by codec family
NEURAL_COST = 1.0  # any other family: neural and in-house codecs
METRIC_COST = 0.1  # the metrics of a row, the same for every codec


def codec_costs(codecs: list, pairs: bool = False) -> dict[str, float]:
    """Estimated cost per second of audio of each codec (``config.CodecEntry``s; by label): its family's;
    scored pairs run no codec."""
    from codecbench.codecs.registry import get_spec

    out = {}
    for c in codecs:
        family = "pairs" if pairs else get_spec(c.target).info.family
        out[c.key] = CODEC_COST.get(family, NEURAL_COST)
    return out


def parse(shard: str) -> tuple[int, int]:
    k, n = (int(x) for x in str(shard).split("/"))
    return k, n


def assign(costs: dict[str, float], utterances: Iterable[tuple[str, float]], n: int) -> dict[tuple[str, str], int]:
    """(codec, utterance id) -> its shard K (1..n), for every codec of ``costs`` and every
    (utterance id, duration in seconds)."""
    utts = list(utterances)
    rate = {c: round(1000 * (METRIC_COST + v)) for c, v in costs.items()}
    work = sorted(((max(1, round(1000 * float(d or 0.0))) * rate[c], c, u) for c in costs for u, d in utts),
                  key=lambda w: (-w[0], w[1], w[2]))
    loads = [(0, k) for k in range(1, n + 1)]  # a heap of (cost so far, K)
    out = {}
    for cost, codec, utt in work:
        load, k = heapq.heappop(loads)
        out[(codec, utt)] = k
        heapq.heappush(loads, (load + cost, k))
    return out


def estimated_cost(costs: dict[str, float], codec: str, duration: float | None) -> float:
    """A pair's estimated seconds of work."""
    return float(duration or 0.0) * (METRIC_COST + costs[codec])


def part(shard: str | None, codecs: list[str], utterances: Iterable[tuple[str, float]],
         costs: dict[str, float] | None) -> frozenset[tuple[str, str]] | None:
    """The (codec, utterance id) pairs of shard "K/N" (None: not sharded, every pair). ``costs``: the
    recorded ``shard_costs``; None for a shard folder from before the cost split (hash split)."""
    if not shard:
        return None
    k, n = parse(shard)
    utts = list(utterances)
    if costs is None:
        return frozenset((c, u) for c in codecs for u, _ in utts if _hash_shard(c, u, n) == k)
    return frozenset(pair for pair, kk in assign({c: costs[c] for c in codecs}, utts, n).items() if kk == k)


def _hash_shard(codec: str, utt_id: str, n: int) -> int:
    return int(hashlib.sha1(f"{codec}\0{utt_id}".encode()).hexdigest()[:12], 16) % n + 1
