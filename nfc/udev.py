"""USB NFC readers nfcpy drives, their udev rule, and advice when one cannot be opened.

The kiosk installer writes :func:`udev_rules` to
``/etc/udev/rules.d/60-heatcast-nfc.rules`` and :func:`modprobe_blacklist` to
``/etc/modprobe.d/heatcast-nfc-blacklist.conf`` (the kernel's own NFC drivers
would otherwise claim the reader, which nfcpy reports as "busy").
Advice follows what ``python -m nfc`` prints, as one line the CLI can show.
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
from dataclasses import dataclass
from pathlib import Path

RULES_FILENAME = "60-heatcast-nfc.rules"
RULES_PATH = Path("/etc/udev/rules.d") / RULES_FILENAME
BLACKLIST_PATH = Path("/etc/modprobe.d/heatcast-nfc-blacklist.conf")
SYSFS_USB = Path("/sys/bus/usb/devices")


@dataclass(frozen=True)
class ReaderModel:
    vid: int
    pid: int
    name: str
    driver: str  # nfcpy driver module
    kernel_module: str  # the kernel driver that grabs it, if any


#: the readers nfcpy supports on USB (nfc.clf.device.usb_device_map), with names
READERS: tuple[ReaderModel, ...] = (
    ReaderModel(0x054C, 0x06C1, "Sony RC-S380", "rcs380", "port100"),
    ReaderModel(0x054C, 0x06C3, "Sony RC-S380", "rcs380", "port100"),
    ReaderModel(0x054C, 0x02E1, "Sony RC-S330/360/370 (RC-S956)", "rcs956", ""),
    ReaderModel(0x072F, 0x2200, "ACS ACR122U", "acr122", "pn533_usb"),
    ReaderModel(0x04CC, 0x2533, "NXP PN533", "pn533", "pn533_usb"),
    ReaderModel(0x04E6, 0x5591, "SCM SCL3711", "pn533", "pn533_usb"),
    ReaderModel(0x04E6, 0x5593, "SCM SCL3712", "pn533", "pn533_usb"),
    ReaderModel(0x054C, 0x0193, "Sony PN531", "pn531", "pn533_usb"),
    ReaderModel(0x04CC, 0x0531, "Philips PN531 / SCM SCL3710", "pn531", "pn533_usb"),
)


def rule_line(vid: int, pid: int, group: str = "plugdev") -> str:
    return (
        f'SUBSYSTEM=="usb", ACTION=="add", ATTRS{{idVendor}}=="{vid:04x}", '
        f'ATTRS{{idProduct}}=="{pid:04x}", GROUP="{group}", MODE="0660"'
    )


def udev_rules(group: str = "plugdev") -> str:
    """The text of /etc/udev/rules.d/60-heatcast-nfc.rules for every supported USB reader."""
    lines = [
        f"# heatcast: NFC readers usable by the '{group}' group (nfcpy talks to them via libusb)",
        "# install: sudo cp this file /etc/udev/rules.d/ && sudo udevadm control -R, then replug the reader",
    ]
    for model in READERS:
        lines.append(f"# {model.name}")
        lines.append(rule_line(model.vid, model.pid, group))
    return "\n".join(lines) + "\n"


def modprobe_blacklist() -> str:
    """Kernel NFC drivers that would claim the readers before nfcpy can."""
    modules = sorted({m.kernel_module for m in READERS if m.kernel_module})
    lines = ["# heatcast: leave the NFC readers to nfcpy (user space, libusb)"]
    lines += [f"blacklist {m}" for m in modules]
    return "\n".join(lines) + "\n"


def model_for(vid: int, pid: int) -> ReaderModel | None:
    for model in READERS:
        if (model.vid, model.pid) == (vid, pid):
            return model
    return None


@dataclass(frozen=True)
class UsbReader:
    model: ReaderModel
    bus: int
    dev: int
    devnode: str
    accessible: bool
    kernel_driver: str | None


def scan_usb(sysfs: Path = SYSFS_USB) -> list[UsbReader]:
    """Supported readers on USB, from sysfs (works without libusb and without access rights)."""
    found = []
    try:
        entries = sorted(sysfs.iterdir())
    except OSError:
        return []
    for entry in entries:
        try:
            vid = int((entry / "idVendor").read_text().strip(), 16)
            pid = int((entry / "idProduct").read_text().strip(), 16)
            bus = int((entry / "busnum").read_text().strip())
            dev = int((entry / "devnum").read_text().strip())
        except (OSError, ValueError):
            continue
        model = model_for(vid, pid)
        if model is None:
            continue
        devnode = f"/dev/bus/usb/{bus:03d}/{dev:03d}"
        driver = None
        link = Path(f"{entry}:1.0") / "driver"
        if link.exists():
            driver = os.path.basename(os.readlink(link))
        found.append(UsbReader(model, bus, dev, devnode, os.access(devnode, os.R_OK | os.W_OK), driver))
    return found


def access_advice(reader: UsbReader) -> str:
    """What to do when the current user may not open the reader's device node."""
    user = pwd.getpwuid(os.getuid()).pw_name
    rule = rule_line(reader.model.vid, reader.model.pid)
    fix = (
        f"add the udev rule `{rule}` to {RULES_PATH} (heatcast's installer does this), run "
        "`sudo udevadm control -R` and replug the reader"
    )
    try:
        plugdev = grp.getgrnam("plugdev")
    except KeyError:
        return fix.replace('GROUP="plugdev", MODE="0660"', 'MODE="0666"')
    if user not in plugdev.gr_mem and plugdev.gr_gid != os.getgid():
        fix += f", and add yourself to the plugdev group: `sudo adduser {user} plugdev` (then log in again)"
    return fix


def busy_advice(reader: UsbReader | None) -> str:
    driver = reader.kernel_driver if reader else None
    module = driver or (reader.model.kernel_module if reader else "") or "pn533_usb / port100"
    if driver == "usbfs":
        return (
            f"another program already uses the reader ({reader.devnode if reader else ''}): stop it "
            "(`sudo lsof` on the device node names it)"
        )
    return (
        f"the kernel driver {module} holds the reader: `sudo modprobe -r {module}` and blacklist it with "
        f"`echo blacklist {module} | sudo tee -a {BLACKLIST_PATH}`"
    )


def _reader_for(path: str) -> UsbReader | None:
    readers = scan_usb()
    parts = path.split(":")
    if len(parts) >= 2 and len(parts[1]) == 4:
        vid = int(parts[1], 16)
        readers = [r for r in readers if r.model.vid == vid]
        if len(parts) >= 3 and len(parts[2]) == 4:
            pid = int(parts[2], 16)
            readers = [r for r in readers if r.model.pid == pid]
    return readers[0] if readers else None


def explain_open_error(path: str, exc: OSError) -> str:
    """One line for an OSError raised by nfcpy's ``ContactlessFrontend.open``."""
    code = exc.errno
    if isinstance(exc, FileNotFoundError) and "libusb" in str(exc):
        return "nfcpy cannot find libusb-1.0: install it with `sudo apt install libusb-1.0-0`"
    if path.startswith(("tty", "com")):
        port = "/dev/tty" + path.split(":")[1] if path.startswith("tty") else path
        if code == errno.EACCES:
            user = pwd.getpwuid(os.getuid()).pw_name
            return (
                f"access to {port} is denied: `sudo adduser {user} dialout` and log in again "
                "(on a Pi's UART also disable the serial console in raspi-config)"
            )
        if code == errno.EBUSY:
            return f"{port} is busy: another program (or the serial console) uses it"
        return f"cannot open the PN532 on {port}: {exc.strerror or exc}; check the wiring and the port name"
    reader = _reader_for(path)
    if code == errno.EACCES:
        if reader is None:
            return f"access to the NFC reader at {path} is denied: install the udev rule {RULES_PATH}"
        return f"found {reader.model.name} at {reader.devnode} but access is denied: " + access_advice(reader)
    if code == errno.EBUSY:
        name = reader.model.name if reader else "the NFC reader"
        return f"found {name} at {path} but it is busy: " + busy_advice(reader)
    if code == errno.ENODEV:
        return explain_not_found(path)
    return f"cannot open the NFC reader at {path}: {exc.strerror or exc}"


def explain_not_found(path: str) -> str:
    if path.startswith("usb"):
        readers = scan_usb()
        if readers:
            r = readers[0]
            if not r.accessible:
                return f"found {r.model.name} at {r.devnode} but access is denied: " + access_advice(r)
            return (
                f"no reader matches {path}, but {r.model.name} is at "
                f"usb:{r.model.vid:04x}:{r.model.pid:04x}: use that path"
            )
        return (
            f"no NFC reader found at {path}: plug in a supported reader "
            "(Sony RC-S380, ACR122U, SCL3711, PN533) and check `lsusb`"
        )
    if path.startswith("tty"):
        return f"no PN532 answers at {path}: check the wiring, the port (ls /dev/tty*) and the driver name"
    return f"no NFC reader found at {path}"
