"""handoff.rules.text, escalation rules and the FAQ bot's matching, without a server.

Rules and FAQ entries are unsaved model instances except where the database decides
(active rules, priority ordering), which use the `db` fixture.
"""

import importlib

import pytest
from django.core.exceptions import ValidationError

from handoff.bots.faq import MATCH_THRESHOLD, best_match, similarity
from handoff.models import EscalationRule, FaqEntry
from handoff.rules.escalation import first_matching_rule, rule_matches
from handoff.rules.text import (
    Script,
    contains_word,
    features,
    normalize,
    script_of,
    strip_edge_punctuation,
)
from handoff.rules.user_regex import compile_user_regex
from handoff.services.escalation import matching_active_rule

Match = EscalationRule.Match


def rule(phrase: str, match: str = Match.WORD, **fields) -> EscalationRule:
    return EscalationRule(phrase=phrase, match=match, **fields)


def triggers(text: str, phrase: str, match: str = Match.WORD) -> bool:
    found = first_matching_rule(text, [rule(phrase, match)])
    return found is not None and found.phrase == phrase


# --- normalize ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("ＡＧＥＮＴ", "agent", id="full-width-latin"),
        pytest.param("Agent", "agent", id="case"),
        pytest.param("ｵﾍﾟﾚｰﾀｰ", "オペレーター", id="half-width-katakana"),
        pytest.param("  talk\u3000to \t a\n\nperson  ", "talk to a person", id="white-space"),
        pytest.param("STRASSE Straße", "strasse strasse", id="sharp-s-folds"),
        pytest.param("①２３", "123", id="circled-and-full-width-digits"),
        pytest.param("", "", id="empty"),
    ],
)
def test_normalize(text, expected):
    assert normalize(text) == expected


def test_normalize_is_idempotent():
    for text in ["ＡＧＥＮＴ", "ｵﾍﾟﾚｰﾀｰ", "ﬁ ǅ Ⅻ", "Straße  \u3000x"]:
        once = normalize(text)
        assert normalize(once) == once


@pytest.mark.parametrize(
    ("char", "script"),
    [
        ("a", Script.WORD),
        ("7", Script.WORD),
        ("_", Script.WORD),
        ("オ", Script.KATAKANA),
        ("ー", Script.KATAKANA),
        ("ㇰ", Script.KATAKANA),
        ("お", Script.HIRAGANA),
        ("担", Script.HAN),
        (" ", Script.OTHER),
        ("!", Script.OTHER),
        ("、", Script.OTHER),
        ("😀", Script.OTHER),
    ],
)
def test_script_of(char, script):
    assert script_of(char) is script


# --- contains_word ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "phrase", "expected"),
    [
        ("i want an agent", "agent", True),
        ("agent", "agent", True),
        ("agent, please", "agent", True),
        ("reagent", "agent", False),
        ("agents", "agent", False),
        ("agent2", "agent", False),
        ("reagent and agent", "agent", True),  # a later occurrence stands alone
        ("agentお願い", "agent", True),  # a different script is a boundary
        ("real person now", "real person", True),
        ("surreal person", "real person", False),
        ("オペレーターさんお願い", "オペレーター", True),
        ("オペレーターと話したい", "オペレーター", True),
        ("オペレーターズ", "オペレーター", False),
        ("ザオペレーター", "オペレーター", False),
        ("担当者様に", "担当者", True),
        ("ご担当者", "担当者", True),
        ("anything", "", False),
    ],
)
def test_contains_word(text, phrase, expected):
    assert contains_word(text, phrase) is expected


# --- escalation rules -----------------------------------------------------------------


def test_full_width_agent_matches_word_rule():
    assert triggers("ＡＧＥＮＴ", "agent")
    assert triggers("Can I talk to an ＡＧＥＮＴ please?", "agent")


def test_exact_rule_ignores_case_and_surrounding_punctuation():
    assert triggers("Agent!!", "agent", Match.EXACT)
    assert triggers("  「担当者」 ", "担当者", Match.EXACT)
    assert not triggers("Agent please", "agent", Match.EXACT)
    assert not triggers("an agent", "agent", Match.EXACT)


def test_reagent_matches_contains_but_not_word():
    assert not triggers("I need a reagent", "agent", Match.WORD)
    assert triggers("I need a reagent", "agent", Match.CONTAINS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("オペレーターさんお願い", True),
        ("オペレーターと話したい", True),
        ("オペレーター", True),
        ("ｵﾍﾟﾚｰﾀｰ", True),
        ("ｵﾍﾟﾚｰﾀｰと話したい", True),
        ("オペレーター、お願いします", True),
        ("オペレーターズ", False),
        ("ｵﾍﾟﾚｰﾀｰｽﾞ", False),
        ("スーパーオペレーター", False),
        ("オペ", False),
    ],
)
def test_katakana_word_rule(text, expected):
    assert triggers(text, "オペレーター") is expected


def test_half_width_katakana_rule_phrase_matches_full_width_text():
    assert triggers("オペレーターをお願い", "ｵﾍﾟﾚｰﾀｰ")


@pytest.mark.parametrize(
    ("text", "phrase"),
    [("オペレーター・スタッフをお願い", "オペレーター"), ("ｵﾍﾟﾚｰﾀｰ･ｽﾀｯﾌ", "スタッフ")],
    ids=["middle-dot", "half-width-middle-dot"],
)
def test_katakana_middle_dot_separates_words(text, phrase):
    assert triggers(text, phrase)


def test_kanji_phrase_matches_inside_running_japanese():
    assert triggers("担当者様にお願いしたいです", "担当者")
    assert triggers("担当者様に", "担当者")
    assert not triggers("担当の方", "担当者")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I want a HUMAN please", True),
        ("human", True),
        ("ＨＵＭＡＮ!", True),
        ("humanity", False),
        ("inhuman", False),
    ],
)
def test_regex_rule_with_word_boundaries(text, expected):
    assert triggers(text, r"\bhuman\b", Match.REGEX) is expected


def test_regex_rule_pattern_is_folded_like_the_text():
    assert triggers("please get me a Real Person", r"real\s+person", Match.REGEX)
    assert triggers("ＯＲＤＥＲ 1234", r"ORDER \d{4}", Match.REGEX)


@pytest.mark.parametrize(
    ("pattern", "text"),
    [(r"help\W+me", "Help!! me"), (r"\Aagent", "agent please"), (r"id:\S+", "id:x1")],
)
def test_regex_rule_keeps_upper_case_escapes(pattern, text):
    assert triggers(text, pattern, Match.REGEX)


def test_valid_regex_with_end_anchor_passes_validation(db):
    rule(r"^agent\Z", Match.REGEX).full_clean()


def test_first_matching_rule_takes_the_first_rule_in_the_given_order():
    low, high = rule("agent", priority=1), rule("agent", Match.CONTAINS, priority=50)
    assert first_matching_rule("agent please", [low, high]) is low
    assert first_matching_rule("agent please", [high, low]) is high
    assert first_matching_rule("nothing here", [low, high]) is None


def test_first_matching_rule_skips_rules_that_do_not_match():
    rules = [rule("human"), rule("オペレーター"), rule("agent")]
    assert first_matching_rule("an AGENT, please", rules) is rules[2]


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_blank_message_matches_nothing(text):
    assert first_matching_rule(text, [rule(".*", Match.REGEX), rule(" ", Match.CONTAINS)]) is None


def test_rule_with_blank_or_broken_phrase_never_matches():
    assert rule_matches(rule("   ", Match.CONTAINS), "anything") is False
    # Saved before validation existed: ignored rather than crashing the router.
    assert rule_matches(rule("(unclosed", Match.REGEX), "(unclosed") is False


@pytest.mark.parametrize("phrase", ["(unclosed", "[a-", "*agent", "a{2,1}", "(?P<x>a)(?P<x>b)"])
def test_invalid_regex_fails_full_clean(db, phrase):
    with pytest.raises(ValidationError) as caught:
        rule(phrase, Match.REGEX).full_clean()
    [message] = caught.value.message_dict["phrase"]
    assert message.startswith("Not a valid regular expression: ")


def test_valid_regex_and_non_regex_phrases_pass_full_clean(db):
    rule(r"\bhuman\b", Match.REGEX).full_clean()
    rule("(unclosed", Match.CONTAINS).full_clean()  # only regex rules are compiled


def test_blank_phrase_fails_full_clean(db):
    with pytest.raises(ValidationError) as caught:
        rule("   ", Match.WORD).full_clean()
    assert "phrase" in caught.value.message_dict


def test_compile_user_regex_reports_why():
    with pytest.raises(ValueError, match="Not a valid regular expression"):
        compile_user_regex("(")
    with pytest.raises(ValueError, match="longer than 500"):
        compile_user_regex("a" * 501)
    # NFKC folds the width; case is left to IGNORECASE so escapes keep their meaning.
    assert compile_user_regex("ＡＢＣ").pattern == "ABC"
    assert compile_user_regex("ＡＢＣ").search("xabcx")


def test_strip_edge_punctuation():
    assert strip_edge_punctuation("!!agent?!") == "agent"
    assert strip_edge_punctuation("「担当者」") == "担当者"
    assert strip_edge_punctuation("a-b") == "a-b"


# --- with the database ------------------------------------------------------------------


def test_matching_active_rule_ignores_inactive_rules(db):
    EscalationRule.objects.all().delete()
    EscalationRule.objects.create(phrase="agent", match=Match.WORD, is_active=False, priority=1)
    assert matching_active_rule("agent please") is None

    active = EscalationRule.objects.create(phrase="agent", match=Match.CONTAINS, priority=5)
    assert matching_active_rule("agent please") == active


def test_matching_active_rule_checks_lower_priority_numbers_first(db):
    EscalationRule.objects.all().delete()
    later = EscalationRule.objects.create(phrase="please", match=Match.WORD, priority=50)
    first = EscalationRule.objects.create(phrase="agent", match=Match.WORD, priority=5)
    EscalationRule.objects.create(phrase="agent please", match=Match.EXACT, priority=10)

    assert matching_active_rule("Agent please!") == first
    assert matching_active_rule("please") == later

    first.priority = 99
    first.save()
    assert matching_active_rule("Agent please!").phrase == "agent please"
    assert matching_active_rule("agent, please") == later


def test_default_rules_from_the_migration_catch_common_requests(db):
    # The seeded rows may have been flushed by an earlier transactional test: recreate.
    defaults = importlib.import_module("handoff.migrations.0002_defaults").DEFAULT_RULES
    EscalationRule.objects.all().delete()
    for phrase, match, priority in defaults:
        EscalationRule.objects.create(phrase=phrase, match=match, priority=priority)

    for text in ["I want an AGENT", "talk to a person please", "ｵﾍﾟﾚｰﾀｰと話したい", "担当者様に"]:
        assert matching_active_rule(text) is not None, text
    for text in ["what are your opening hours", "reagent prices", "オペレーターズ"]:
        assert matching_active_rule(text) is None, text


# --- features and the FAQ bot -------------------------------------------------------------


def test_features_stem_english_and_drop_stopwords():
    assert features("What are your opening hours?") == {"open", "hour"}
    assert features("OPENING HOURS") == features("opening hours") == {"open", "hour"}
    assert features("the and of") == frozenset()


def test_features_make_bigrams_of_japanese_and_drop_particles():
    assert features("営業時間は何時ですか") == {"営業", "業時", "時間", "何時"}
    assert features("営業時間を教えて") == {"営業", "業時", "時間", "教"}
    assert features("ありがとう") == {"あり", "りが", "がと", "とう"}


def test_similarity_is_dice_overlap():
    assert similarity(frozenset("ab"), frozenset("ab")) == 1.0
    assert similarity(frozenset("ab"), frozenset("bc")) == 0.5
    assert similarity(frozenset(), frozenset("a")) == 0.0


HOURS = FaqEntry(questions="What are your opening hours?\n営業時間を教えて", answer="9-18")
PASSWORD = FaqEntry(questions="How do I reset my password?\nパスワードを忘れました", answer="pw")
SHIPPING = FaqEntry(questions="How much is shipping?\n送料はいくらですか", answer="free")
ENTRIES = [HOURS, PASSWORD, SHIPPING]


@pytest.mark.parametrize(
    ("question", "entry"),
    [
        pytest.param("What are your opening hours?", HOURS, id="verbatim"),
        pytest.param("what are your OPENING hours", HOURS, id="case"),
        pytest.param("opening hour", HOURS, id="singular"),
        pytest.param("hours opening?", HOURS, id="word-order"),
        pytest.param("Hi! When are you open? Opening hours please", HOURS, id="wordier"),
        pytest.param("ＯＰＥＮＩＮＧ　ＨＯＵＲＳ", HOURS, id="full-width"),
        pytest.param("営業時間は何時ですか", HOURS, id="japanese-variant"),
        pytest.param("営業時間を教えてください", HOURS, id="japanese-polite"),
        pytest.param("How can I reset my password", PASSWORD, id="password-variant"),
        pytest.param("RESET PASSWORDS", PASSWORD, id="password-plural"),
        pytest.param("resetting passwords", PASSWORD, id="password-ing-form"),
        pytest.param("ﾊﾟｽﾜｰﾄﾞを忘れた", PASSWORD, id="half-width-katakana"),
        pytest.param("shipping, how much?", SHIPPING, id="shipping"),
        pytest.param("送料はいくら？", SHIPPING, id="japanese-shipping"),
    ],
)
def test_faq_best_match_finds_the_entry(question, entry):
    match = best_match(question, ENTRIES)
    assert match is not None, question
    assert match.entry is entry
    assert match.score >= MATCH_THRESHOLD
    assert match.phrasing in entry.question_list


@pytest.mark.parametrize(
    "question",
    [
        "Do you ship to Canada?",
        "配送にどのくらいかかりますか",
        "I want to cancel my subscription",
        "",
        "???",
        "hello",
    ],
)
def test_faq_best_match_returns_none_for_unrelated_questions(question):
    assert best_match(question, ENTRIES) is None


def test_faq_best_match_prefers_the_closest_phrasing():
    broad = FaqEntry(questions="password", answer="broad")
    exact = FaqEntry(questions="reset password", answer="exact")
    assert best_match("reset my password", [broad, exact]).entry is exact
    assert best_match("reset my password", [exact, broad]).entry is exact


def test_faq_best_match_with_no_entries_is_none():
    assert best_match("opening hours", []) is None


def test_the_pure_matcher_knows_every_kind_of_match_the_admin_offers():
    """rules.escalation compares with the model's values without importing the model."""
    from handoff.rules import escalation

    assert {escalation.CONTAINS, escalation.WORD, escalation.EXACT, escalation.REGEX} == set(
        Match.values
    )
