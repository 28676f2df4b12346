"""The adaptive lead: as long as recent claims of that many due schedules took, with headroom, bounded."""

import pytest

from jobs.fire_ahead import (
    HEADROOM,
    PRIOR_COMMIT_SECONDS_PER_DUE,
    PRIOR_SECONDS_PER_DUE,
    SAMPLES,
    ClaimTimes,
    size_bucket,
)

FLOOR, CEILING = 0.2, 2.0


def times() -> ClaimTimes:
    return ClaimTimes(floor=FLOOR, ceiling=CEILING)


def test_sizes_fall_into_doubling_buckets():
    assert [size_bucket(due) for due in (0, 1, 2, 3, 4, 7, 8, 1000, 1023, 1024)] == [
        1,
        1,
        2,
        2,
        3,
        3,
        4,
        10,
        10,
        11,
    ]


def test_the_lead_covers_the_recent_claims_of_that_size_with_headroom_and_their_commit():
    claim_times = times()
    for preparation in (0.30, 0.40, 0.50):
        claim_times.record(1000, preparation=preparation, commit=0.03)

    assert claim_times.lead_for(1000) == pytest.approx(HEADROOM * 0.50 + 0.03)
    assert claim_times.commit_allowance(1000) == pytest.approx(0.03)


def test_small_claims_keep_the_shortest_lead():
    claim_times = times()
    claim_times.record(3, preparation=0.004, commit=0.002)

    assert claim_times.lead_for(3) == FLOOR


def test_the_lead_never_exceeds_the_longest():
    claim_times = times()
    claim_times.record(1000, preparation=5.0, commit=0.05)

    assert claim_times.lead_for(1000) == CEILING


def test_a_size_never_measured_is_estimated_from_the_nearest_measured_one():
    claim_times = times()
    claim_times.record(250, preparation=0.25, commit=0.01)  # bucket 8 (128-255)

    # 1000 due is two buckets up: four times the size, four times the preparation and the commit.
    assert claim_times.preparation_for(1000) == pytest.approx(1.0)
    assert claim_times.lead_for(1000) == pytest.approx(HEADROOM * 1.0 + 0.04)


def test_before_any_claim_the_estimate_is_the_prior_cost_per_due_schedule():
    assert times().preparation_for(1000) == pytest.approx(1000 * PRIOR_SECONDS_PER_DUE)
    assert times().commit_allowance(1000) == pytest.approx(1000 * PRIOR_COMMIT_SECONDS_PER_DUE)


def test_only_the_recent_claims_count():
    claim_times = times()
    claim_times.record(1000, preparation=1.2, commit=0.0)  # a slow moment, long ago
    for _ in range(SAMPLES):
        claim_times.record(1000, preparation=0.4, commit=0.0)

    assert claim_times.preparation_for(1000) == pytest.approx(0.4)


def test_with_the_longest_lead_at_the_shortest_the_lead_is_fixed():
    fixed = ClaimTimes(floor=0.2, ceiling=0.0)
    fixed.record(1000, preparation=0.9, commit=0.05)

    assert not fixed.adaptive
    assert (fixed.lead_for(1000), fixed.commit_allowance(1000)) == (0.2, 0.0)
