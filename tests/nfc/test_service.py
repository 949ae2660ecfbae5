"""TagService: never blocks, coalesces, rate-limits, retries, reopens, never crashes."""

from __future__ import annotations

import logging
import threading

import pytest

from heatcast.nfc.service import TagService, TagState

URL_A = "https://www.youtube.com/watch?v=aaaaaaaaaaa"
URL_B = "https://www.youtube.com/watch?v=bbbbbbbbbbb"
URL_C = "https://www.youtube.com/watch?v=ccccccccccc"
URL_D = "https://www.youtube.com/watch?v=ddddddddddd"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def holds(url):
    return lambda st: st.verified and st.url == url


def fast(path, secret, **kw):
    options = dict(secret=secret, min_interval_s=0.0, retry_s=0.02, max_backoff_s=0.1, connect_timeout_s=0.05)
    options.update(kw)
    return TagService(path, **options)


def test_no_reader_only_logs(caplog):
    caplog.set_level(logging.INFO)
    service = TagService(None)
    service.submit(URL_A)
    state = service.state()
    assert isinstance(state, TagState)
    assert state.wanted == URL_A and not state.verified and state.reader is None
    assert f"would write {URL_A}" in caplog.text
    assert service.close(1.0)


def test_writes_verifies_and_mutes(make_reader, secret):
    path, reader = make_reader("NTAG215")
    with fast(path, secret) as service:
        service.submit(URL_A)
        state = service.wait(holds(URL_A), 10)
    assert state.verified and state.protected and state.error is None
    assert state.tag_type == "NTAG215" and state.uid == reader.tag.uid.hex().upper()
    assert state.page_writes == reader.tag.page_writes
    assert reader.tag.ndef_url() == URL_A
    assert not reader.field_on


def test_coalesces_and_rate_limits(make_reader, secret):
    path, reader = make_reader("NTAG213")
    clock = Clock()
    service = fast(path, secret, min_interval_s=60.0, clock=clock, recheck_s=None)
    try:
        service.submit(URL_A)
        assert service.wait(holds(URL_A), 10).verified  # the first write is not delayed
        writes = reader.tag.page_writes
        for url in (URL_B, URL_C, URL_D):
            service.submit(url)  # within the minimum interval
        state = service.wait(lambda st: st.page_writes > writes, 0.6)
        assert state.page_writes == writes and reader.tag.ndef_url() == URL_A
        assert state.wanted == URL_D and not state.verified
        clock.advance(61)
        state = service.wait(holds(URL_D), 10)
        assert state.verified
        assert URL_B not in reader.tag.history and URL_C not in reader.tag.history
        assert reader.tag.history == ["", URL_A, "", URL_D]
    finally:
        assert service.close(2.0)


def test_same_url_again_costs_nothing(make_reader, secret):
    path, reader = make_reader("NTAG213")
    with fast(path, secret) as service:
        service.submit(URL_A)
        service.wait(holds(URL_A), 10)
        writes, exchanges = reader.tag.page_writes, reader.exchanges
        service.submit(URL_A)
        service.submit(URL_A)
        state = service.wait(lambda st: st.exchanges > 1000, 0.3)
    assert reader.tag.page_writes == writes and reader.exchanges == exchanges
    assert state.verified


def test_submit_never_blocks_while_writer_is_busy(make_reader, secret):
    path, reader = make_reader("NTAG213")
    entered, release = threading.Event(), threading.Event()
    handle = reader.tag.handle

    def slow(cmd: bytes):
        entered.set()
        release.wait(5)
        return handle(cmd)

    reader.tag.handle = slow  # the radio is slow, not heatcast
    service = fast(path, secret)
    try:
        service.submit(URL_A)
        assert entered.wait(5)
        service.submit(URL_B)  # returns although the worker is stuck in the driver
        service.submit(URL_C)
        assert service.state().wanted == URL_C
        release.set()
        assert service.wait(holds(URL_C), 10).verified
    finally:
        release.set()
        service.close(2.0)


def test_reader_unplugged_and_replugged(make_reader, secret):
    path, reader = make_reader("NTAG213")
    with fast(path, secret) as service:
        service.submit(URL_A)
        service.wait(holds(URL_A), 10)
        reader.unplug()
        service.submit(URL_B)
        state = service.wait(lambda st: st.failures >= 3, 10)
        assert "unplugged" in (state.error or "") and not state.verified
        reader.replug()
        state = service.wait(holds(URL_B), 10)
    assert state.verified and state.error is None
    assert reader.tag.ndef_url() == URL_B


def test_torn_write_is_reported_then_retried(make_reader, secret):
    path, reader = make_reader("NTAG213")
    with fast(path, secret) as service:
        service.submit(URL_A)
        service.wait(holds(URL_A), 10)
        reader.remove_after_writes(2)  # length 0 and one data page
        service.submit(URL_B)
        state = service.wait(lambda st: st.failures >= 1, 10)
        assert state.url is None and not state.verified
        assert "no message" in (state.error or "") or "no tag" in (state.error or "")
        assert reader.tag.ndef_url() == ""  # empty, never garbage
        reader.tag.remove_after_writes = None
        reader.place(reader.tag)
        state = service.wait(holds(URL_B), 10)
    assert state.verified and reader.tag.ndef_url() == URL_B
    assert set(reader.tag.history) <= {"", URL_A, URL_B}


def test_too_long_url_reported_once_not_retried(make_reader, secret):
    path, reader = make_reader("NTAG213")
    with fast(path, secret) as service:
        service.submit("https://example.com/" + "y" * 200)
        state = service.wait(lambda st: st.error is not None, 10)
        exchanges = reader.exchanges
        state = service.wait(lambda st: st.failures > 1, 0.4)
        assert "holds at most 137 bytes" in (state.error or "")
        assert reader.exchanges == exchanges  # given up until the URL changes
        service.submit(URL_A)
        assert service.wait(holds(URL_A), 10).verified


def test_wrong_password_and_bad_url_are_states_not_crashes(make_reader, secret):
    path, _ = make_reader("NTAG213")
    with fast(path, secret) as service:
        service.submit(URL_A)
        service.wait(holds(URL_A), 10)
    with fast(path, b"not-the-right-secret-0000000") as service:
        service.submit(URL_B)
        state = service.wait(lambda st: st.error is not None, 10)
        assert "does not match this site's secret" in (state.error or "")
        service.submit("not a url")
        assert "spaces" in (service.state().error or "") or "scheme" in (service.state().error or "")


def test_driver_bug_does_not_escape(make_reader, secret):
    path, reader = make_reader("NTAG213")

    def broken(cmd: bytes):
        raise RuntimeError("firmware bug")

    reader.tag.handle = broken
    with fast(path, secret) as service:
        service.submit(URL_A)
        state = service.wait(lambda st: st.error is not None, 10)
        assert "unexpected NFC error" in (state.error or "")
        assert service._thread is not None and service._thread.is_alive()


def test_missing_secret_is_a_state(make_reader, monkeypatch, tmp_path):
    monkeypatch.delenv("HEATCAST_NFC_SECRET", raising=False)
    monkeypatch.setenv("HEATCAST_NFC_SECRET_FILE", str(tmp_path / "absent"))
    path, reader = make_reader("NTAG213")
    with TagService(path, min_interval_s=0, retry_s=0.02) as service:
        service.submit(URL_A)
        state = service.wait(lambda st: st.failures >= 1, 5)
    assert "keygen" in (state.error or "")
    assert reader.tag.page_writes == 0


@pytest.mark.parametrize("protect", [True, False])
def test_close_is_clean(make_reader, secret, protect):
    path, _ = make_reader(None)  # no tag: the worker keeps retrying
    service = fast(path, secret, protect=protect)
    service.submit(URL_A)
    service.wait(lambda st: st.failures >= 2, 5)
    assert service.close(2.0)


def test_reader_unplugged_mid_write(make_reader, secret):
    path, reader = make_reader("NTAG215")
    with fast(path, secret) as service:
        service.submit(URL_A)
        service.wait(holds(URL_A), 10)
        reader.tag.remove_after_writes = 2
        reader.tag.on_removed = reader.unplug  # the USB cable goes, not the tag
        service.submit(URL_B)
        state = service.wait(lambda st: st.failures >= 2, 10)
        assert "NFC reader" in (state.error or "") and not state.verified
        assert reader.tag.ndef_url() in ("", URL_A)
        reader.tag.remove_after_writes = None
        reader.replug()
        state = service.wait(holds(URL_B), 10)
    assert state.verified and reader.tag.ndef_url() == URL_B
    assert set(reader.tag.history) <= {"", URL_A, URL_B}
