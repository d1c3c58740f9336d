"""The child's share of a chunk: how it is split, and how it follows what was measured."""

from __future__ import annotations

import pytest

from tidings.operations.balance import DAMPING, MIN_SHARE, SPLIT_FROM, child_count, gap, next_share


def test_small_chunks_go_to_the_child_whole() -> None:
    assert child_count(0.3, SPLIT_FROM - 1) == SPLIT_FROM - 1
    assert child_count(0.3, 2) == 2


def test_large_chunks_are_split_by_the_share() -> None:
    assert child_count(1.0, 500) == 500
    assert child_count(0.8, 500) == 400
    assert child_count(0.001, 500) == 1  # the child always gets something


def test_gap_is_the_workers_wait_when_the_child_was_late() -> None:
    assert gap(finished=10.5, asked=10.2, next_asked=None) == pytest.approx(-0.3)
    assert gap(finished=10.5, asked=10.2, next_asked=9.0) == pytest.approx(-0.3)


def test_gap_is_the_childs_idle_time_when_it_was_early() -> None:
    # PostgreSQL: no next request yet, so idle from finishing until the worker asked.
    assert gap(finished=10.0, asked=10.2, next_asked=None) == pytest.approx(0.2)
    # SQLite: the next request came in before the worker asked: idle until then only.
    assert gap(finished=10.0, asked=10.2, next_asked=10.05) == pytest.approx(0.05)
    # ... or before the child was done: never idle.
    assert gap(finished=10.0, asked=10.2, next_asked=9.9) == 0.0


def test_a_wait_moves_conversations_to_the_worker() -> None:
    # 10 ms of waiting at 60 + 40 us a conversation: 100 conversations of 500 would close
    # the gap, and DAMPING of them move.
    assert next_share(1.0, 500, -0.010, 60e-6, 40e-6) == pytest.approx(1.0 - DAMPING * 0.2)


def test_idle_time_moves_conversations_to_the_child() -> None:
    assert next_share(0.5, 500, 0.010, 60e-6, 40e-6) == pytest.approx(0.5 + DAMPING * 0.2)


def test_the_share_stays_within_bounds() -> None:
    assert next_share(0.9, 500, 5.0, 60e-6, 40e-6) == 1.0
    assert next_share(0.3, 500, -5.0, 60e-6, 40e-6) == MIN_SHARE


def test_small_chunks_and_unknown_costs_leave_the_share_alone() -> None:
    assert next_share(0.7, SPLIT_FROM - 1, -1.0, 60e-6, 40e-6) == 0.7
    assert next_share(0.7, 500, -1.0, 0.0, 0.0) == 0.7


def _settle(lag: int, chunks: int = 60) -> list[float]:
    """The share chunk after chunk, for a worker with 20 ms of its own work per chunk,
    rendering at 40 us a conversation, and a child at 80 us; a share set now takes
    effect ``lag`` chunks later (SQLite asks for chunks ahead)."""
    n, child_cost, local_cost, other = 500, 80e-6, 40e-6, 0.020
    shares = [1.0] * (lag + 1)
    for _ in range(chunks):
        applied = shares[-1 - lag]
        child_time = applied * n * child_cost
        worker_time = other + (1 - applied) * n * local_cost
        # Positive: the child was idle; negative: the worker waited (gap()).
        shares.append(next_share(shares[-1], n, worker_time - child_time, child_cost, local_cost))
    return shares


# Both are done together when share * n * child = other + (1 - share) * n * local.
BALANCED = (0.020 + 500 * 40e-6) / (500 * (80e-6 + 40e-6))


@pytest.mark.parametrize("lag", [0, 2])
def test_the_share_settles_where_both_are_done_together(lag: int) -> None:
    """Within the chunk (PostgreSQL, no lag) and two chunks ahead (SQLite): it converges
    and stops moving. A step too large for the lag (DAMPING above ~0.62) would ring on."""
    shares = _settle(lag)
    assert all(s == pytest.approx(BALANCED, abs=0.01) for s in shares[-10:])
