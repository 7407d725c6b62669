"""The file names network boot loaders look their configuration up by."""
from __future__ import annotations

from kbuild.boot import lookup


def test_lookup_orders():
    assert lookup.pxelinux_lookup_order("52:54:00:12:34:56", "10.0.2.15", "ABC") == [
        "abc", "01-52-54-00-12-34-56", "0A00020F", "0A00020", "0A0002", "0A000", "0A00", "0A0",
        "0A", "0", "default"]
    assert lookup.pxelinux_lookup_order(None, None) == ["default"]
    assert lookup.pxelinux_mac_name("52:54:00:AB:CD:EF") == "01-52-54-00-ab-cd-ef"
