"""How much of each chunk the snapshot renderer's child process takes (pure policy).

A bulk delete forever splits each chunk's snapshots between the child process and the
worker (ADR 0012). The child renders a share of the chunk's conversations while the worker
does the rest of the chunk's work (the deletes, the events, the commit) and renders the
remainder itself. The best share is the one at which both are done at the same moment:
a larger one makes the worker wait for the child, a smaller one leaves the child idle
while the worker renders. Neither speed is known in advance, and on a shared machine both
drift, so the share is corrected after every chunk from what that chunk measured.
"""

from __future__ import annotations

# Chunks smaller than this go to the child whole: splitting them saves nothing, and
# small chunks (tests, tiny operations) then behave the same on every machine.
SPLIT_FROM = 50

# The worker never renders more than this much of a chunk itself: a child that is slow
# for a moment (a page-cache miss, another process) must not push all the work back.
MIN_SHARE = 0.2

# Only part of a measured gap is closed at once: a single chunk's timing is noisy, and on
# SQLite a share takes effect two chunks after it was set (the child works ahead), which
# makes a larger step ring: closing a fraction g of each gap with a lag of two chunks
# decays as the roots of x^3 - x^2 + g, |x| ~0.81 at 0.3, ~0.94 at 0.5, unstable from ~0.62.
DAMPING = 0.3


def child_count(share: float, chunk: int) -> int:
    """How many of a chunk's ``chunk`` conversations the child renders (the first ones)."""
    if chunk < SPLIT_FROM:
        return chunk
    return max(1, min(chunk, round(share * chunk)))


def gap(finished: float, asked: float, next_asked: float | None) -> float:
    """For one request to the child: how long the child sat idle that it could have spent
    rendering (positive), or the worker waited for it (negative). Times on one clock.

    ``finished``: when the child was done; ``asked``: when the worker needed the result;
    ``next_asked``: when the child was given its next request (None: not yet). A child
    given its next request before it was done was never idle (SQLite, working ahead);
    otherwise it was idle until the next request or until the worker asked, whichever
    came first (PostgreSQL, within the chunk: until the worker asked).
    """
    if finished > asked:
        return asked - finished
    idle_until = asked if next_asked is None else min(asked, next_asked)
    return max(0.0, idle_until - finished)


def next_share(share: float, chunk: int, gap: float, child_cost: float, local_cost: float) -> float:
    """The share for the next chunks, after a chunk of ``chunk`` conversations left a
    ``gap`` (see ``gap``: positive, the child idled; negative, the worker waited).

    ``child_cost`` and ``local_cost`` are seconds per conversation in the child and in the
    worker. Moving one conversation to the child lengthens its part by ``child_cost`` and
    shortens the worker's by ``local_cost``, so a gap of ``gap`` seconds closes after
    moving ``gap / (child_cost + local_cost)`` conversations.
    """
    if chunk < SPLIT_FROM or child_cost + local_cost <= 0:
        return share
    moved = DAMPING * gap / (child_cost + local_cost)
    return min(1.0, max(MIN_SHARE, share + moved / chunk))
