"""Known-device tokens (server/domain/devices.py): bound to one account, signed, expiring."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from server.domain.devices import DEVICE_TTL_MS, Device, DeviceTokens

KEY = bytes(range(32))
USER = "01JD0M7Q5W3K4T9V2X8Y6Z1ABC"


def test_a_token_names_its_account_and_device_until_it_expires() -> None:
    now = [1_800_000_000_000]
    tokens = DeviceTokens(KEY, lambda: now[0])
    token = tokens.issue(USER)
    device = tokens.read(token)
    assert device is not None and device.user_id == USER and len(device.device_id) >= 16
    renewed = tokens.issue(USER, device.device_id)
    now[0] += DEVICE_TTL_MS - 1
    assert tokens.read(token) == device == tokens.read(renewed)
    now[0] += 1
    assert tokens.read(token) is None  # expired; a log-in with it meanwhile would have renewed it


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # the MAC
        lambda t: t.replace(USER, "01JD0M7Q5W3K4T9V2X8Y6Z1ABD"),  # the account
        lambda t: t.replace(".", ".x", 1),  # the device id
        lambda t: t.removeprefix("tsdd_"),
        lambda t: t + ".",
        lambda t: t + "é",
        lambda t: "",
        lambda t: t * 3,  # over the length limit
    ],
)
def test_a_changed_or_malformed_token_is_unknown(change: Callable[[str], str]) -> None:
    tokens = DeviceTokens(KEY, lambda: 1_800_000_000_000)
    token = tokens.issue(USER)
    assert tokens.read(token) == Device(USER, token.split(".")[1])
    assert tokens.read(change(token)) is None
    assert DeviceTokens(bytes(32), lambda: 1_800_000_000_000).read(token) is None  # another key
