"""NFC wear and traffic: page writes and reader exchanges per tag update.

Runs heatcast's TagWriter (nfcpy's real NTAG classes) on the fake reader
(heatcast.nfc.fake) for: the first write on a blank tag (URL + password),
the same URL again, and a changed URL.  The baseline, measured in the same
process on a twin tag, is what plain nfcpy does when the application rewrites
the NDEF message every time (``tag.ndef.records = [...]``, authenticated).
A burst of URL changes through TagService shows the coalescing.

    python benchmarks/bench_nfc.py
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import ndef

from heatcast.nfc import fake
from heatcast.nfc.keys import tag_key
from heatcast.nfc.service import TagService
from heatcast.nfc.writer import TagWriter, open_frontend

SECRET = b"benchmark-site-secret-0123456789"
URL_A = "https://www.youtube.com/watch?v=aaaaaaaaaaa"
URL_B = "https://www.youtube.com/watch?v=bbbbbbbbbbb"
_count = 0


def _reader(product: str) -> tuple[str, fake.FakeReader]:
    global _count
    _count += 1
    path = f"fake:{product.lower()}:bench{_count}"
    return path, fake.register(path, fake.FakeReader(fake.NtagChip(product), name=path[5:]))


def _timed(fn: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn()
    return result, (time.perf_counter() - started) * 1000


def _summary(samples: list[dict[str, float]]) -> dict[str, Any]:
    """Counts are deterministic (median); times get median, min and max."""
    out: dict[str, Any] = {}
    for key in ("page_writes", "exchanges", "tag_page_writes"):
        out[key] = statistics.median(s[key] for s in samples)
    ms = [s["ms"] for s in samples]
    out["ms_median"] = round(statistics.median(ms), 3)
    out["ms_min"] = round(min(ms), 3)
    out["ms_max"] = round(max(ms), 3)
    return out


def heatcast_case(product: str) -> dict[str, dict[str, float]]:
    path, reader = _reader(product)
    writer = TagWriter(path)
    out = {}
    for name, url in (("first_write", URL_A), ("unchanged", URL_A), ("changed", URL_B)):
        chip_before = reader.tag.page_writes if reader.tag else 0
        report, ms = _timed(lambda url=url: writer.write_url(url, secret=SECRET))
        assert report.verified
        out[name] = {
            "page_writes": report.page_writes,
            "exchanges": report.exchanges,
            "tag_page_writes": (reader.tag.page_writes if reader.tag else 0) - chip_before,
            "ms": ms,
        }
    writer.close()
    return out


def baseline_case(product: str) -> dict[str, dict[str, float]]:
    """Plain nfcpy rewriting the message on every update (after authenticating)."""
    path, reader = _reader(product)
    TagWriter(path).write_url(URL_A, secret=SECRET)  # same starting point: protected, holding URL_A
    assert reader.tag is not None
    key = tag_key(SECRET, reader.tag.uid)
    out = {}
    for name, url in (("unchanged", URL_A), ("changed", URL_B)):
        clf = open_frontend(path)
        before = reader.tag.page_writes

        def rewrite(url: str = url, clf: Any = clf) -> None:
            tag = clf.connect(rdwr={"targets": ["106A"], "on-connect": lambda tag: False, "iterations": 1})
            tag.authenticate(key)
            tag.ndef.records = [ndef.UriRecord(url)]
            clf.device.mute()

        _, ms = _timed(rewrite)
        out[name] = {
            "page_writes": clf.page_writes,
            "exchanges": clf.exchanges,
            "tag_page_writes": reader.tag.page_writes - before,
            "ms": ms,
        }
        clf.close()
    return out


def burst(submits: int = 20) -> dict[str, Any]:
    """*submits* different URLs in quick succession, within one minimum interval."""
    path, reader = _reader("NTAG213")
    assert reader.tag is not None
    service = TagService(path, secret=SECRET, min_interval_s=3600.0, recheck_s=None)
    try:
        service.submit(URL_A)
        service.wait(lambda st: st.verified, 10)
        first = reader.tag.page_writes
        for i in range(submits):
            service.submit(f"https://www.youtube.com/watch?v=burst{i:06d}")
        time.sleep(0.3)
        during = reader.tag.page_writes - first
    finally:
        service.close(2.0)
    per_update = heatcast_case("NTAG213")["changed"]["page_writes"]
    return {
        "submits": submits,
        "page_writes_within_interval": during,
        "naive_page_writes": submits * per_update,
        "note": "the latest URL is written once the interval has passed; the others are dropped",
    }


def run(repeats: int = 5) -> dict[str, Any]:
    results: dict[str, Any] = {"repeats": repeats}
    for product in ("NTAG213", "NTAG215"):
        cases = [heatcast_case(product) for _ in range(repeats)]
        base = [baseline_case(product) for _ in range(repeats)]
        entry: dict[str, Any] = {}
        for name in ("first_write", "unchanged", "changed"):
            entry[name] = _summary([c[name] for c in cases])
        entry["baseline_rewrite_always"] = {
            name: _summary([b[name] for b in base]) for name in ("unchanged", "changed")
        }
        for name in ("unchanged", "changed"):
            ours = entry[name]["page_writes"]
            theirs = entry["baseline_rewrite_always"][name]["page_writes"]
            entry[f"{name}_page_writes_ratio_vs_baseline"] = round(ours / theirs, 3) if theirs else None
        results[product.lower()] = entry
    results["burst"] = burst()
    # the two figures the README table carries (NTAG213, the smallest sticker)
    results["unchanged_url_page_writes"] = results["ntag213"]["unchanged"]["page_writes"]
    results["changed_url_page_writes"] = results["ntag213"]["changed"]["page_writes"]
    results["first_write_page_writes"] = results["ntag213"]["first_write"]["page_writes"]
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
