"""Phone taps from the NTAG's own counter, through nfcpy and the fake NTAG (counter emulated)."""

from __future__ import annotations

import time

import pytest

from heatcast.nfc.service import TagService
from heatcast.nfc.taps import TapLedger
from heatcast.nfc.writer import COUNTER_MAX, NFC_CNT_EN, NFC_CNT_PWD_PROT, TagWriter

URL_A = "https://youtu.be/aaaaaaaaaaa"
URL_B = "https://youtu.be/bbbbbbbbbbb"


def access(chip) -> int:
    return int(chip.memory[chip.cfgpage * 4 + 4])


def test_the_first_write_switches_the_counter_on_behind_the_password(make_reader, secret):
    path, reader = make_reader("NTAG215")
    chip = reader.tag
    writer = TagWriter(path)
    report = writer.write_url(URL_A, secret=secret)
    assert report.verified and report.counting
    assert access(chip) & NFC_CNT_EN and access(chip) & NFC_CNT_PWD_PROT
    chip.phone_tap()
    assert chip.nfc_counter == 1
    # READ_CNT needs the password: with the site secret it reads, without it it cannot
    assert writer.count(secret=secret).counter_before == 1
    assert writer.count().counter_before is None
    assert chip.nfc_counter == 1  # reading the counter is no tap
    # nfcpy's activation alone (AUTHENTICATE, GET_VERSION) reads nothing either
    assert writer.count(secret=secret).counter_before == 1


def test_an_unprotected_tag_counts_openly(make_reader):
    path, reader = make_reader("NTAG213")
    writer = TagWriter(path)
    writer.write_url(URL_A, protect=False)
    assert access(reader.tag) & NFC_CNT_EN and not access(reader.tag) & NFC_CNT_PWD_PROT
    reader.tag.phone_tap()
    reader.tag.phone_tap()
    assert writer.count().counter_before == 2


def test_tags_without_a_counter_say_so(make_reader):
    path, _ = make_reader("ULTRALIGHT")
    report = TagWriter(path).write_url(URL_A, protect=False)
    assert report.verified and report.counting is None and report.counter_before is None


def service(path, secret, **kw):
    options = dict(secret=secret, min_interval_s=0.0, retry_s=0.02, max_backoff_s=0.1, connect_timeout_s=0.05)
    options.update(kw)
    return TagService(path, **options)


def wait_counted(svc, before: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if svc.state().exchanges > before:
            return
        time.sleep(0.02)


def test_a_hundred_writes_and_reads_with_no_phone_count_no_tap(make_reader, secret):
    path, reader = make_reader("NTAG215")
    with service(path, secret, count_every_s=0.01) as svc:
        for i in range(100):
            url = URL_A if i % 2 else URL_B
            svc.submit(url)
            svc.wait(lambda st, u=url: st.verified and st.url == u, timeout=10)
            svc.count_now()
        time.sleep(0.3)  # count sessions run meanwhile
        state = svc.state()
        assert state.taps == 0 and svc.take_taps() == {}
        assert state.counting is True
    assert reader.tag.nfc_counter >= 99  # the tag did count heatcast's own reads (all but the first)


def test_taps_go_to_the_link_the_tag_held_when_they_happened(make_reader, secret):
    path, reader = make_reader("NTAG215")
    chip = reader.tag
    with service(path, secret, count_every_s=None) as svc:
        svc.submit(URL_A)
        svc.wait(lambda st: st.verified and st.url == URL_A, timeout=10)
        for _ in range(3):
            assert chip.phone_tap() == URL_A
        svc.submit(URL_B)  # the change's own session reads the counter first
        svc.wait(lambda st: st.verified and st.url == URL_B, timeout=10)
        assert svc.take_taps() == {URL_A: 3}
        chip.phone_tap()
        exchanges = svc.state().exchanges
        svc.count_now()
        wait_counted(svc, exchanges)
        time.sleep(0.1)
        assert svc.take_taps() == {URL_B: 1}
        assert svc.state().taps == 4


def test_a_tap_that_collides_with_heatcasts_read_is_counted_later(make_reader, secret):
    path, reader = make_reader("NTAG215")
    with service(path, secret, count_every_s=None) as svc:
        svc.submit(URL_A)
        svc.wait(lambda st: st.verified and st.url == URL_A, timeout=10)
        reader.collisions = 1  # a phone taps while heatcast reads: heatcast's command is lost
        exchanges = svc.state().exchanges
        svc.count_now()
        wait_counted(svc, exchanges)
        time.sleep(0.1)
        exchanges = svc.state().exchanges
        svc.count_now()
        wait_counted(svc, exchanges)
        time.sleep(0.1)
        assert svc.take_taps() == {URL_A: 1} and reader.tag.nfc_counter >= 1


def test_ledger_a_new_tag_or_a_counter_that_goes_back_starts_afresh():
    ledger = TapLedger()
    assert ledger.session("04AA", 5, 6, URL_A) == 0  # the first reading is only a start
    assert ledger.session("04AA", 9, 10, URL_A) == 3
    assert ledger.session("04BB", 40, 41, URL_A) == 0  # another sticker: its history is not ours
    assert ledger.session("04BB", 2, 3, URL_B) == 0  # a counter that went back: start again
    assert ledger.session("04BB", 4, 5, URL_B) == 1
    assert ledger.take() == {URL_A: 3, URL_B: 1} and ledger.take() == {}


def test_a_full_counter_stops_counting_and_says_so(make_reader, secret, caplog):
    path, reader = make_reader("NTAG215")
    chip = reader.tag
    with service(path, secret, count_every_s=None) as svc:
        svc.submit(URL_A)
        svc.wait(lambda st: st.verified and st.url == URL_A, timeout=10)
        chip.nfc_counter = COUNTER_MAX - 1
        chip.phone_tap()
        chip.phone_tap()  # the counter stays at FFFFFFh
        assert chip.nfc_counter == COUNTER_MAX
        svc.submit(URL_B)
        state = svc.wait(lambda st: st.verified and st.url == URL_B, timeout=10)
        assert state.counting is False
    assert "tap counter is full" in caplog.text


@pytest.mark.parametrize("product", ["NTAG213", "NTAG216"])
def test_fast_read_counts_once_per_power_up(make_reader, product):
    path, reader = make_reader(product)
    TagWriter(path).write_url(URL_A, protect=False)
    chip = reader.tag
    chip.power_off()
    chip.activate()
    start = chip.nfc_counter
    assert chip.handle(bytes([0x3A, 4, 7])) is not None
    assert chip.handle(bytes([0x30, 4])) is not None
    assert chip.nfc_counter == start + 1  # once per power-up, however many reads
    assert chip.handle(bytes([0x39, 0x02])) == (start + 1).to_bytes(3, "little")


def test_nfc_read_and_doctor_say_whether_taps_are_counted(make_reader, secret):
    from heatcast.nfc.status import probe
    from heatcast.nfc.taps import counting_verdict

    path, reader = make_reader("NTAG215")
    TagWriter(path).write_url(URL_A, secret=secret)
    reader.tag.phone_tap()
    result = probe(path, secret=secret)
    assert result["counter"] == 1 and result["counting"] is True
    assert counting_verdict(result["tag_type"], result["counting"], result["counter"])[0]
    # the probe read the counter before its own READs, which the tag then counted: a kiosk
    # (which holds the reader while it runs) starts its count afresh at its next start
    assert reader.tag.nfc_counter == 2
    ok, why = counting_verdict("MifareUltralight", None, None)
    assert not ok and "only NTAG213/215/216 count taps" in why
    ok, why = counting_verdict("NTAG213", True, COUNTER_MAX)
    assert not ok and "full" in why


def test_a_replaced_sticker_starts_afresh(make_reader, secret):
    from heatcast.nfc.fake import NtagChip

    path, reader = make_reader("NTAG215")
    with service(path, secret, count_every_s=None) as svc:
        svc.submit(URL_A)
        svc.wait(lambda st: st.verified and st.url == URL_A, timeout=10)
        used = NtagChip.ntag215(uid=bytes.fromhex("04112233445566"))
        used.nfc_counter = 500  # a sticker tapped many times elsewhere
        reader.place(used)
        svc.submit(URL_B)
        svc.wait(lambda st: st.verified and st.url == URL_B and st.uid == "04112233445566", timeout=10)
        assert svc.take_taps() == {} and svc.state().taps == 0
        used.phone_tap()
        exchanges = svc.state().exchanges
        svc.count_now()
        wait_counted(svc, exchanges)
        time.sleep(0.1)
        assert svc.take_taps() == {URL_B: 1}
