"""udev rules and the advice for readers that cannot be opened."""

from __future__ import annotations

import errno

import nfc.clf.device

from heatcast.nfc import udev


def test_rules_cover_every_reader_nfcpy_drives():
    rules = udev.udev_rules()
    for vid, pid in nfc.clf.device.usb_device_map:
        assert f'ATTRS{{idVendor}}=="{vid:04x}", ATTRS{{idProduct}}=="{pid:04x}", GROUP="plugdev"' in rules
    for name in ("RC-S380", "RC-S956", "ACR122U", "PN533", "SCL3711"):
        assert name in rules
    assert 'GROUP="nfc"' in udev.udev_rules(group="nfc")
    assert "blacklist pn533_usb" in udev.modprobe_blacklist()


def test_scan_usb_from_sysfs(tmp_path):
    dev = tmp_path / "1-1"
    dev.mkdir()
    for name, value in (("idVendor", "054c"), ("idProduct", "06c1"), ("busnum", "1"), ("devnum", "7")):
        (dev / name).write_text(value + "\n")
    other = tmp_path / "1-2"
    other.mkdir()
    for name, value in (("idVendor", "1d6b"), ("idProduct", "0002"), ("busnum", "1"), ("devnum", "1")):
        (other / name).write_text(value + "\n")
    found = udev.scan_usb(tmp_path)
    assert len(found) == 1
    assert found[0].model.name == "Sony RC-S380" and found[0].devnode == "/dev/bus/usb/001/007"
    assert not found[0].accessible  # no such device node here


def test_open_error_advice():
    libusb = FileNotFoundError(2, "cannot find a suitable libusb-1.0")
    assert "apt install libusb-1.0-0" in udev.explain_open_error("usb", libusb)
    denied = OSError(errno.EACCES, "Permission denied")
    assert "udev rule" in udev.explain_open_error("usb:054c:06c1", denied)
    assert "dialout" in udev.explain_open_error("tty:AMA0:pn532", denied)
    busy = OSError(errno.EBUSY, "Device or resource busy")
    assert "blacklist" in udev.explain_open_error("usb", busy)
    assert "lsusb" in udev.explain_not_found("usb")


def test_access_advice_names_rule_and_group():
    reader = udev.UsbReader(udev.READERS[0], 1, 7, "/dev/bus/usb/001/007", False, None)
    advice = udev.access_advice(reader)
    assert 'ATTRS{idProduct}=="06c1"' in advice and "udevadm control -R" in advice
