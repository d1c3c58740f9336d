"""Slowing down repeated failed sign-ins, per client address (pure: time is passed in).

After ``free`` failures in a row, a client must wait before its next try: ``base`` seconds,
doubling with each further failure up to ``cap``. A try during the wait is refused without
looking at the key, so guessing costs time however fast the guesser. Memory is bounded: at
most ``max_clients`` addresses are remembered (the least recently failed are forgotten
first), and an address that has not failed for ``forget`` seconds starts afresh.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Failures:
    count: int
    last: float  # monotonic seconds


class SignInThrottle:
    def __init__(
        self,
        *,
        free: int = 3,
        base: float = 1.0,
        cap: float = 60.0,
        forget: float = 900.0,
        max_clients: int = 10_000,
    ) -> None:
        self.free, self.base, self.cap = free, base, cap
        self.forget, self.max_clients = forget, max_clients
        self._failures: OrderedDict[str, Failures] = OrderedDict()

    def delay(self, count: int) -> float:
        """How long a client with ``count`` failures in a row must wait after the last."""
        if count < self.free:
            return 0.0
        return min(self.cap, self.base * 2.0 ** (count - self.free))

    def wait(self, client: str, now: float) -> float:
        """Seconds before ``client`` may try again (0: now)."""
        found = self._failures.get(client)
        if found is None:
            return 0.0
        if now - found.last > self.forget:
            del self._failures[client]
            return 0.0
        return max(0.0, found.last + self.delay(found.count) - now)

    def failed(self, client: str, now: float) -> float:
        """Count a failure; the wait it imposes."""
        found = self._failures.pop(client, None)
        count = 1 if found is None or now - found.last > self.forget else found.count + 1
        self._failures[client] = Failures(count, now)
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)
        return self.delay(count)

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)

    def __len__(self) -> int:
        return len(self._failures)
