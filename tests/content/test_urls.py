"""The URL policy: exact accepted forms, clear refusals, and a fuzz that never escapes it."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from heatcast.errors import ContentError, UrlPolicyError
from heatcast.firmware.urls import MAX_URL_CHARS, check_domain, is_normalised, normalise_url

ID = "Ab3dE5gH7_-"
ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"


@pytest.mark.parametrize(
    "url",
    [
        f"https://www.youtube.com/watch?v={ID}",
        f"https://youtube.com/watch?v={ID}",
        f"https://m.youtube.com/watch?v={ID}",
        f"https://www.youtube.com/watch?feature=share&v={ID}&t=42s",
        f"https://youtu.be/{ID}",
        f"https://youtu.be/{ID}?si=tracking123",
        f"https://www.youtube.com/shorts/{ID}",
        f"https://m.youtube.com/shorts/{ID}/",
        f"HTTPS://WWW.YOUTUBE.COM/watch?v={ID}",
        f"  https://youtu.be/{ID}  ",
        f"https://youtube.com:443/watch?v={ID}",
    ],
)
def test_accepted_forms_are_stored_short(url: str) -> None:
    assert normalise_url(url) == f"https://youtu.be/{ID}"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("javascript:alert(1)", "javascript: scheme"),
        ("data:text/html;base64,PHNjcmlwdD4=", "data: scheme"),
        (f"http://www.youtube.com/watch?v={ID}", "http: is not encrypted"),
        (f"ftp://youtu.be/{ID}", "ftp: scheme"),
        (f"https://youtube.com.evil.example/watch?v={ID}", "look-alikes"),
        (f"https://youtube.co/watch?v={ID}", "look-alikes"),
        (f"https://youtu.be.evil.example/{ID}", "look-alikes"),
        (f"https://music.youtube.com/watch?v={ID}", "look-alikes"),
        (f"https://evil.example/watch?v={ID}", "not an allowed host"),
        ("https://youtube.com@evil.example/", "user information"),
        (f"https://user:pw@youtu.be/{ID}", "user information"),
        (f"https://yоutube.com/watch?v={ID}", "non-ASCII"),  # Cyrillic o
        (f"https://youtu.be/{ID[:10]}é", "non-ASCII"),
        (f"https://xn--yutube-wqf.com/watch?v={ID}", "not an allowed host"),
        ("https://www.youtube.com/watch", "no video id"),
        ("https://www.youtube.com/watch?v=", "no video id"),
        ("https://youtu.be/", "no video id"),
        ("https://youtu.be/short", "not a video id"),
        (f"https://youtu.be/{ID}x", "not a video id"),
        ("https://youtu.be/Ab3dE5gH7j!", "not a video id"),
        (f"https://www.youtube.com/watch?v={ID}&v=Zx9_yW8-vU7", "more than one"),
        (f"https://www.youtube.com/embed/{ID}", "not a link to one video"),
        ("https://www.youtube.com/", "not a link to one video"),
        (f"https://youtube.com:8443/watch?v={ID}", "port"),
        (f"https://youtu.be/{ID} x", "character ' '"),
        (f"https://youtu.be\\@evil.example/{ID}", "character '\\\\'"),
        ("", "empty"),
        ("youtu.be/" + ID, "no scheme"),
        ("https:youtu.be/" + ID, "no host"),
        ("https://[::1", "malformed"),
    ],
)
def test_refused_with_a_reason(url: str, reason: str) -> None:
    with pytest.raises(UrlPolicyError, match=re.escape(reason)) as info:
        normalise_url(url)
    assert "refused" in str(info.value)
    assert isinstance(info.value, ContentError) and isinstance(info.value, ValueError)


def test_allowlist_admits_the_shops_own_https_domain_only() -> None:
    assert normalise_url("https://Shop.Example/offers?x=1", ["shop.example"]) == "https://shop.example/offers?x=1"
    assert normalise_url("https://www.shop.example", ["shop.example"]) == "https://www.shop.example/"
    with pytest.raises(UrlPolicyError, match="http: is not encrypted"):
        normalise_url("http://shop.example/", ["shop.example"])
    with pytest.raises(UrlPolicyError, match="not an allowed host"):
        normalise_url("https://shop.example.evil.example/", ["shop.example"])
    with pytest.raises(UrlPolicyError, match="user information"):
        normalise_url("https://shop.example@evil.example/", ["shop.example"])
    with pytest.raises(UrlPolicyError, match="NTAG213"):
        normalise_url("https://shop.example/" + "a" * MAX_URL_CHARS, ["shop.example"])
    with pytest.raises(UrlPolicyError, match="plain host name"):
        check_domain("https://shop.example/")


def test_short_form_fits_an_ntag213() -> None:
    url = normalise_url(f"https://www.youtube.com/watch?v={ID}")
    # NDEF: TLV 2 + record header 4 + prefix code 1 + terminator 1 + the rest after "https://"
    assert 8 + len(url) - len("https://") <= 144
    assert is_normalised(url)


_pieces = st.sampled_from([
    "https://", "http://", "javascript:", "data:", "HTTPS://", "//", "www.", "m.", "youtube.com",
    "youtu.be", "youtube.co", ".evil.example", "@", ":443", ":80", "/watch?v=", "/shorts/", "/",
    "?", "&", "v=", "#", "%2F", "\\", " ", "é", "о", ID, "Zx9_yW8-vU7", "abc", "-", "_", "\x00",
])  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(st.one_of(st.text(max_size=120), st.lists(_pieces, max_size=12).map("".join)))
@example(f"https://youtube.com/watch?v={ID}#frag")
@example("https://youtu.be/" + ID + "/" + ID)
def test_fuzz_always_a_normalised_url_or_one_policy_error(url: str) -> None:
    try:
        result = normalise_url(url)
    except UrlPolicyError as exc:
        assert str(exc).startswith("URL") or "must be text" in str(exc)
        return
    assert re.fullmatch(r"https://youtu\.be/[A-Za-z0-9_-]{11}", result), result
    assert normalise_url(result) == result  # idempotent


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=ID_CHARS, min_size=11, max_size=11),
    st.sampled_from([
        "https://www.youtube.com/watch?v={}", "https://m.youtube.com/watch?v={}&t=1",
        "https://youtu.be/{}", "https://youtube.com/shorts/{}",
    ]),
)
def test_fuzz_every_valid_id_in_every_form(video: str, form: str) -> None:
    assert normalise_url(form.format(video)) == f"https://youtu.be/{video}"
