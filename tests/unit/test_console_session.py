"""The console's session cookie, CSRF tokens and sign-in throttle (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tidings.console.session import Sessions
from tidings.console.throttle import SignInThrottle

NOW = datetime(2031, 3, 4, 10, 0, tzinfo=UTC)


def test_a_cookie_reads_back_as_its_session_until_it_expires() -> None:
    sessions = Sessions("secret", "key", 3600)
    session, cookie = sessions.issue(NOW)
    assert sessions.read(cookie, NOW + timedelta(minutes=59)) == session
    assert sessions.read(cookie, NOW + timedelta(hours=1)) is None


def test_a_cookie_holds_neither_the_key_nor_the_secret() -> None:
    _, cookie = Sessions("the-secret", "the-api-key", 60).issue(NOW)
    assert "the-api-key" not in cookie
    assert "the-secret" not in cookie


def test_a_tampered_cookie_is_refused() -> None:
    sessions = Sessions("secret", "key", 3600)
    _, cookie = sessions.issue(NOW)
    version, expires, sid, signature = cookie.split(".")
    last = "B" if signature.endswith("A") else "A"  # always a different last character
    for forged in (
        f"{version}.{int(expires) + 1}.{sid}.{signature}",
        f"{version}.{expires}.other.{signature}",
        f"v2.{expires}.{sid}.{signature}",
        f"{version}.{expires}.{sid}.{signature[:-1]}{last}",
        "",
        "a.b.c",
        "v1.x.y.z",
    ):
        assert sessions.read(forged, NOW) is None, forged


def test_another_key_or_secret_ends_every_session() -> None:
    _, cookie = Sessions("secret", "key", 3600).issue(NOW)
    assert Sessions("secret", "new-key", 3600).read(cookie, NOW) is None
    assert Sessions("other", "key", 3600).read(cookie, NOW) is None


def test_the_csrf_token_is_bound_to_its_session() -> None:
    sessions = Sessions("secret", "key", 3600)
    one, _ = sessions.issue(NOW)
    two, _ = sessions.issue(NOW)
    assert sessions.csrf_ok(one, sessions.csrf(one))
    assert not sessions.csrf_ok(one, sessions.csrf(two))
    assert not sessions.csrf_ok(one, None)
    assert not sessions.csrf_ok(one, "")


def test_the_sign_in_token_is_bound_to_its_pre_session() -> None:
    sessions = Sessions("secret", "key", 3600)
    pre = sessions.new_pre_session()
    token = sessions.sign_in_token(pre)
    assert sessions.sign_in_token_ok(pre, token)
    assert not sessions.sign_in_token_ok(sessions.new_pre_session(), token)
    assert not sessions.sign_in_token_ok(None, token)
    assert not sessions.sign_in_token_ok(pre, None)


def test_the_throttle_waits_longer_after_each_failure_up_to_the_cap() -> None:
    throttle = SignInThrottle(free=3, base=1.0, cap=8.0)
    waits = [throttle.failed("10.0.0.1", 0.0) for _ in range(7)]
    assert waits == [0.0, 0.0, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert throttle.wait("10.0.0.1", 3.0) == 5.0
    assert throttle.wait("10.0.0.2", 0.0) == 0.0


def test_the_throttle_forgets_after_success_or_a_quiet_while() -> None:
    throttle = SignInThrottle(free=1, base=10.0, forget=100.0)
    throttle.failed("a", 0.0)
    throttle.succeeded("a")
    assert throttle.wait("a", 0.0) == 0.0
    throttle.failed("b", 0.0)
    assert throttle.wait("b", 5.0) == 5.0
    assert throttle.wait("b", 101.0) == 0.0
    assert throttle.failed("b", 102.0) == 10.0  # a first failure again


def test_the_throttle_remembers_a_bounded_number_of_clients() -> None:
    throttle = SignInThrottle(free=1, max_clients=100)
    for n in range(1000):
        throttle.failed(f"10.0.{n // 256}.{n % 256}", float(n))
    assert len(throttle) == 100
    assert throttle.wait("10.0.0.0", 1000.0) == 0.0  # the oldest were forgotten
    assert throttle.wait("10.0.3.231", 999.0) > 0
