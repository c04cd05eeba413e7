"""Choosing the language a customer is written to in (rules/customer_language.py)."""

import pytest

from handoff.rules.customer_language import best_match, choose, normalized, script_language

TEXTS_IN = ["en", "ja"]


@pytest.mark.parametrize(
    ("code", "expected"),
    [("ja", "ja"), ("JA_jp", "ja-jp"), (" pt-BR ", "pt-br"), ("", ""), ("日本語", ""), ("e", "")],
)
def test_language_tags_are_filed_in_one_spelling(code, expected):
    assert normalized(code) == expected


@pytest.mark.parametrize(
    ("code", "available", "expected"),
    [
        ("ja-JP", ["en", "ja"], "ja"),
        ("pt-BR", ["en", "pt-br", "pt"], "pt-br"),
        ("pt-PT", ["en", "pt-br"], "pt-br"),
        ("pt", ["en", "pt-br"], "pt-br"),
        ("fr", ["en", "ja"], None),
        ("", ["en"], None),
    ],
)
def test_a_sent_language_finds_its_texts_with_or_without_the_region(code, available, expected):
    assert best_match(code, available) == expected


@pytest.mark.parametrize(
    ("texts", "available", "expected"),
    [
        (["注文した商品がまだ届きません"], TEXTS_IN, "ja"),
        (["ｺﾝﾆﾁﾊ"], TEXTS_IN, "ja"),
        (["請問我的訂單在哪裡"], ["en", "ja", "zh"], "zh"),
        (["請問我的訂單在哪裡"], TEXTS_IN, "ja"),  # Han, and Japanese is what we write
        (["主文 and some English", "カード"], ["en", "ja", "zh"], "ja"),  # kana decides
        (["안녕하세요"], ["en", "ko"], "ko"),
        (["Здравствуйте"], ["en", "uk"], "uk"),
        (["where is my order?"], TEXTS_IN, None),  # Latin names no language
        (["12345 👍"], TEXTS_IN, None),
        (["안녕하세요"], TEXTS_IN, None),  # no Korean texts
    ],
)
def test_the_script_of_the_customers_messages_names_a_language_with_texts(
    texts, available, expected
):
    assert script_language(texts, available) == expected


def test_the_language_braze_sends_comes_before_the_script_and_the_default():
    assert choose(sent="ja", texts=["hello"], available=TEXTS_IN, default="en") == "ja"
    assert choose(sent="", texts=["こんにちは"], available=TEXTS_IN, default="en") == "ja"
    assert choose(sent="fr", texts=["bonjour"], available=TEXTS_IN, default="en") == "en"
    assert choose(sent="fr", texts=["bonjour"], available=TEXTS_IN, default="ja") == "ja"
    assert choose(sent="", texts=[], available=[], default="") == "en"
