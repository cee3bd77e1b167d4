"""Long values wrap where a reader expects, and shortened errors keep the whole text."""

from crmsync.wrapping import breakable, shortened


def test_an_address_may_wrap_after_its_at_sign_and_dots_only() -> None:
    assert breakable("alice.long@subsidiary.example.com") == (
        "alice.<wbr>long@<wbr>subsidiary.<wbr>example.<wbr>com"
    )


def test_short_words_are_never_broken() -> None:
    assert breakable("Support queue ErrorTimeoutExpired") == "Support queue ErrorTimeoutExpired"


def test_an_id_without_break_chances_gets_one_every_24_characters() -> None:
    exchange_id = "AAMkADAwATM0MDAAMS1iNTcwLWI2NTktMDACLTAwCgBGAAAD"

    assert breakable(exchange_id).split("<wbr>") == [exchange_id[:24], exchange_id[24:]]


def test_the_text_is_escaped() -> None:
    assert breakable("<b>x</b>") == "&lt;<wbr>b&gt;<wbr>x&lt;<wbr>/<wbr>b&gt;"


def test_a_shortened_error_keeps_the_whole_text_on_hover() -> None:
    error = "ErrorTimeoutExpired: the mail server did not answer within 120 seconds\nline 2"

    html = shortened(error, 40)

    assert html == (
        '<span title="ErrorTimeoutExpired: the mail server did not answer within 120 '
        'seconds\nline 2">ErrorTimeoutExpired: the mail server…</span>'
    )
    assert shortened("Fine", 40) == "Fine"
