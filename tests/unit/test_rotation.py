"""Time-bound member credentials: when a token is renewed, what a refused one is called, what is stored."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hybridfed.members import rotation

NOW = datetime(2030, 6, 1, 12, 0, 0, tzinfo=UTC)
DAY = 24 * 3600.0


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# ---- due -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("left", "ttl", "fraction", "expected"), [
    (timedelta(hours=48), 2 * DAY, 0.2, False),  # fresh
    (timedelta(hours=10), 2 * DAY, 0.2, False),  # 20.8% left
    (timedelta(hours=9, minutes=36), 2 * DAY, 0.2, False),  # exactly 20% left: not less
    (timedelta(hours=9, minutes=35), 2 * DAY, 0.2, True),  # just under 20%
    (timedelta(minutes=1), 2 * DAY, 0.2, True),
    (timedelta(0), 2 * DAY, 0.2, True),  # expiring now
    (timedelta(hours=-3), 2 * DAY, 0.2, True),  # expired: always due
    (timedelta(seconds=600), 600.0, 0.99, False),  # just issued: nothing of its life spent yet
    (timedelta(seconds=593), 600.0, 0.99, True),  # 0.99 forces a renewal once 1% (6 s) of the life is spent
    (timedelta(seconds=599), 600.0, 1.0, True),  # 1.0: every probe
])
def test_due(left: timedelta, ttl: float, fraction: float, expected: bool) -> None:
    assert rotation.due(NOW + left, NOW, ttl, fraction) is expected


def test_due_defaults_to_a_fifth_of_the_life() -> None:
    assert rotation.DEFAULT_REFRESH_FRACTION == 0.2
    assert rotation.DEFAULT_TTL_SECONDS == 48 * 3600
    assert not rotation.due(NOW + timedelta(hours=10), NOW, 2 * DAY)
    assert rotation.due(NOW + timedelta(hours=9), NOW, 2 * DAY)


def test_due_compares_instants_not_wall_clocks() -> None:
    beijing = timezone(timedelta(hours=8))
    expiration = datetime(2030, 6, 1, 22, 0, tzinfo=beijing)  # 14:00 UTC: 2 hours left
    assert not rotation.due(expiration, NOW, 10 * 3600, 0.2)
    assert rotation.due(expiration, NOW, 10 * 3600, 0.21)


# ---- credential_reason -----------------------------------------------------------------------------
def test_unauthorized_with_a_past_expiration_is_credential_expired() -> None:
    reason, message = rotation.credential_reason("Unauthorized", NOW - timedelta(seconds=1), NOW, "Unauthorized")
    assert reason == "CredentialExpired"
    assert "expired at 2030-06-01T11:59:59Z" in message
    assert "run `hybridfed join` for this member again" in message


def test_unauthorized_at_the_expiration_instant_is_expired() -> None:
    assert rotation.credential_reason("Unauthorized", NOW, NOW)[0] == "CredentialExpired"


@pytest.mark.parametrize("expiration", [NOW + timedelta(hours=1), None])
def test_unauthorized_with_a_valid_or_unknown_expiration_stays_unauthorized(expiration: datetime | None) -> None:
    reason, message = rotation.credential_reason("Unauthorized", expiration, NOW, "the server said no")
    assert reason == "Unauthorized"
    assert "(the server said no)" in message and "run `hybridfed join` for this member again" in message


@pytest.mark.parametrize("reason", ["Unreachable", "Forbidden", "ProbeTimeout", "InvalidCredentials", "ProbeFailed"])
def test_other_reasons_are_unchanged(reason: str) -> None:
    assert rotation.credential_reason(reason, NOW - timedelta(days=1), NOW, "m") == (reason, "m")


# ---- the stored Secret -----------------------------------------------------------------------------
def test_parse_stored() -> None:
    secret = {"metadata": {"resourceVersion": "42",
                           "annotations": {rotation.TTL_ANNOTATION: "600",
                                           rotation.SERVICE_ACCOUNT_ANNOTATION: "hf/hybridfed-member"}},
              "data": {"token": b64("t0ps3cret"), "ca.crt": b64("CA"), "expiration": b64("2030-06-01T12:10:00Z")}}
    stored = rotation.parse_stored(secret)
    assert stored == rotation.StoredToken("42", NOW + timedelta(minutes=10), 600.0, ("hf", "hybridfed-member"))
    assert "t0ps3cret" not in repr(stored)


@pytest.mark.parametrize("data", [
    {"token": b64("t")},  # an older join's long-lived token: nothing to renew
    {"token": b64("t"), "expiration": b64("next tuesday")},
    {"token": b64("t"), "expiration": "%%% not base64"},
])
def test_a_secret_without_a_usable_expiration_is_never_due(data: dict[str, str]) -> None:
    stored = rotation.parse_stored({"metadata": {"resourceVersion": "1"}, "data": data})
    assert stored.expiration is None
    assert (stored.ttl, stored.service_account) == (rotation.DEFAULT_TTL_SECONDS, ("hybridfed-system",
                                                                                   "hybridfed-member"))


@pytest.mark.parametrize("ttl", ["soon", "-5", "0"])
def test_a_bad_ttl_annotation_falls_back_to_the_default(ttl: str) -> None:
    stored = rotation.parse_stored({"metadata": {"annotations": {rotation.TTL_ANNOTATION: ttl}}, "data": {}})
    assert stored.ttl == rotation.DEFAULT_TTL_SECONDS


def test_rotation_patch_writes_token_and_expiration_guarded_by_the_revision() -> None:
    patch = rotation.rotation_patch("new-token", NOW + timedelta(days=2), "42")
    assert patch == {"metadata": {"resourceVersion": "42"},
                     "data": {"token": b64("new-token"), "expiration": b64("2030-06-03T12:00:00Z")}}
    # What it writes is what parse_stored reads back.
    stored = rotation.parse_stored({"metadata": {"resourceVersion": "43"}, "data": patch["data"]})
    assert stored.expiration == NOW + timedelta(days=2)


@pytest.mark.parametrize(("text", "expected"), [
    ("2030-06-01T12:00:00Z", NOW),
    ("2030-06-01T20:00:00+08:00", NOW),
    ("2030-06-01T12:00:00", NOW),  # naive: UTC
])
def test_parse_time(text: str, expected: datetime) -> None:
    assert rotation.parse_time(text) == expected
    assert rotation.format_time(rotation.parse_time(text)) == "2030-06-01T12:00:00Z"


# ---- the refresh fraction setting -------------------------------------------------------------------
@pytest.mark.parametrize(("value", "fraction"), [(None, 0.2), ("", 0.2), ("0.99", 0.99), ("1", 1.0), (" 0.5 ", 0.5)])
def test_refresh_fraction_from(value: str | None, fraction: float) -> None:
    assert rotation.refresh_fraction_from(value) == fraction


@pytest.mark.parametrize("value", ["0", "-0.1", "1.5", "half", "nan"])
def test_bad_refresh_fraction_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="token refresh fraction"):
        rotation.refresh_fraction_from(value)
