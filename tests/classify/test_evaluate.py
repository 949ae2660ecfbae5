"""Scoring: eval's running sums, chunk by chunk, equal the scores of whole recordings."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([-1, 0, 1]), st.sampled_from([0, 1])), min_size=1, max_size=60),
    st.lists(st.integers(1, 59), max_size=4),
)
def test_scoring_in_chunks_is_scoring_the_whole(frames, cuts):
    """eval scores a recording chunk by chunk; the sums must equal those of the whole."""
    import numpy as np

    from heatcast.classify.evaluate import ArrivalClock, Decisions, Tally, arrival_latencies, score

    truth = np.array([t for t, _ in frames], dtype=np.int32)
    pred = np.array([p for _, p in frames], dtype=np.int32)

    def decisions(lo: int, hi: int) -> Decisions:
        labels = ("presence", "count", "posture", "orientation")
        return Decisions(
            truth={name: truth[lo:hi] for name in labels},
            pred={name: pred[lo:hi] for name in labels},
            frames=hi - lo,
            bands={"ambient": np.array(["below 25 C" if i % 3 else "25 C and above" for i in range(lo, hi)])},
        )

    whole = decisions(0, len(frames))
    whole.arrivals = arrival_latencies(truth, pred)
    edges = sorted({0, len(frames), *(c for c in cuts if c < len(frames))})
    tally, clock = Tally(), ArrivalClock()
    for lo, hi in itertools.pairwise(edges):
        part = decisions(lo, hi)
        part.arrivals = clock.feed(truth[lo:hi], pred[lo:hi])
        tally.add(part)
    tally.arrivals += clock.close()
    assert tally.arrivals == whole.arrivals
    assert tally.report() == score(whole)
    assert tally.band_report() == Tally.of(whole).band_report()
