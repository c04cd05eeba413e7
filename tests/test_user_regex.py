"""Admin-written regular expressions: the time budget, the check before saving, and
what admin shows about a pattern that ran over its budget."""

import logging
import re
import threading
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from handoff.models import EscalationRule
from handoff.rules.escalation import first_matching_rule, rule_matches
from handoff.rules.user_regex import (
    backtracking_problem,
    check,
    compile_user_regex,
    search,
    trial_problem,
)
from handoff.services.escalation import matching_active_rule

Match = EscalationRule.Match
# Catastrophic for the `regex` engine too, already at the issue's 28 characters.
EXPONENTIAL = r"(a|a)*$"
ATTACK = "a" * 27 + "!"


def regex_rule(phrase: str, **fields) -> EscalationRule:
    return EscalationRule(phrase=phrase, match=Match.REGEX, **fields)


# --- The structural check -------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    [
        r"(a+)+$",
        r"(a*)*",
        r"(a+)*b",
        r"(?:a+){2,}",
        r"(\w+\s?)+$",
        r"((a+)b?)+",
        r"(?:[a-z]+|\d+)+$",
        r"x(?:y?(a+))*",
        r"(a|a)*",
        r"(a|aa)+$",
        r"(.|\s)*$",
        r"(?:a|b|ab)+c",
        r"(?:agent|AGENT)+",
    ],
)
def test_patterns_known_to_backtrack_are_named(pattern):
    assert backtracking_problem(pattern) is not None


@pytest.mark.parametrize(
    "pattern",
    [
        r"\bhuman\b",
        r"(real|human)\s+(person|agent)",
        r"(a|ab)*c",
        r"(agent|agents)+",
        r"(\d+-)+\d+",
        r"(a+b)+",
        r"(a{1,3}){1,3}",
        r"(?>a+)+",
        r"(a++)+",
        r"order\s*#?\d{4,}",
        r"^agent\Z",
        r"(?:オペレーター|担当者)",
    ],
)
def test_ordinary_patterns_pass_the_structural_check(pattern):
    assert backtracking_problem(pattern) is None


_ATOMS = st.sampled_from(["a", "x", r"\w", r"\d", r"\s", ".", "[a-z]", "[^,]", "(?:ab)", "あ"])


@given(atom=_ATOMS, inner=st.sampled_from("+*"), outer=st.sampled_from(["+", "*", "{2,}"]))
def test_any_nested_unbounded_repetition_is_named(atom, inner, outer):
    assert backtracking_problem(f"({atom}{inner}){outer}") is not None


@given(atom=_ATOMS, outer=st.sampled_from(["+", "*"]))
def test_an_alternative_repeated_twice_inside_a_repetition_is_named(atom, outer):
    assert backtracking_problem(f"(?:{atom}|{atom}){outer}") is not None


@given(words=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=4))
def test_escaped_words_and_their_alternation_pass(words):
    assert backtracking_problem("|".join(re.escape(word) for word in words)) is None


@given(st.text(max_size=40))
def test_the_check_never_raises_on_any_text(pattern):
    backtracking_problem(pattern)


def test_the_trial_run_finds_what_the_structural_check_misses():
    pattern = r"(x+x+)+y"
    assert backtracking_problem(pattern) is None

    problem = trial_problem(compile_user_regex(pattern), budget_seconds=0.05, trial_chars=4096)

    assert "4,095 × “x”" in problem
    assert "50 ms" in problem


def test_check_passes_an_ordinary_pattern():
    check(r"(real|human)\s+(person|agent)", budget_seconds=0.05, trial_chars=4096)


@pytest.mark.parametrize("pattern", [r"(a+)+$", EXPONENTIAL])
def test_saving_a_backtracking_pattern_is_refused_with_the_reason(db, pattern):
    with pytest.raises(ValidationError) as caught:
        regex_rule(pattern).full_clean()

    [message] = caught.value.message_dict["phrase"]
    assert "exponentially long" in message


# --- Matching within the budget -------------------------------------------------------


def test_a_match_past_the_budget_raises_timeout_instead_of_running_on():
    with pytest.raises(TimeoutError):
        rule_matches(regex_rule(EXPONENTIAL), ATTACK, budget=0.01)


def test_a_search_lets_other_threads_run_while_it_backtracks():
    # Order of events, not time: the main thread keeps taking turns while the search
    # thread is still inside one match (the stdlib's `re` would hold the GIL).
    started = threading.Event()
    outcome = []

    def backtrack():
        started.set()
        try:
            search(compile_user_regex(EXPONENTIAL), ATTACK * 2, budget_seconds=1.0)
        except TimeoutError:
            outcome.append("timed out")

    worker = threading.Thread(target=backtrack)
    worker.start()
    started.wait()
    turns_while_searching = 0
    while worker.is_alive():
        turns_while_searching += 1
        time.sleep(0.001)
    worker.join()

    assert outcome == ["timed out"]
    assert turns_while_searching > 20


def test_a_rule_past_the_budget_is_skipped_and_the_next_rule_still_applies():
    slow, agent = regex_rule(EXPONENTIAL), EscalationRule(phrase="aaaa", match=Match.CONTAINS)

    skipped = []

    found = first_matching_rule(ATTACK, [slow, agent], budget=0.01, on_timeout=skipped.append)

    assert found is agent
    assert skipped == [slow]


def test_the_issues_pattern_matches_normally_on_the_issues_message():
    # (a+)+$ on 28 characters is the stdlib's exponential case; the `regex` engine
    # answers it at once, so it is no longer a timeout at all.
    assert rule_matches(regex_rule(r"(a+)+$"), ATTACK, budget=1.0) is False


def test_a_timeout_is_counted_on_the_rule_and_logged_without_the_text(db, settings, caplog):
    settings.HANDOFF_REGEX_TIMEOUT_MS = 10
    EscalationRule.objects.all().delete()
    slow = EscalationRule.objects.create(phrase=EXPONENTIAL, match=Match.REGEX, priority=1)
    secret = "a" * 27 + "! my card is 4111"

    with caplog.at_level(logging.WARNING, logger="handoff.services.escalation"):
        assert matching_active_rule(secret, message_id=77) is None

    slow.refresh_from_db()
    assert slow.timeout_count == 1
    assert slow.last_timeout_at is not None
    [record] = caplog.records
    assert "message 77" in record.getMessage()
    assert "4111" not in record.getMessage()
    assert "aaaa" not in record.getMessage()


# --- Admin ------------------------------------------------------------------------------


CREATED = {"created_at_0": "2026-12-01", "created_at_1": "10:00:00"}


@pytest.fixture
def admin_browser(db):
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", password="pw-1234567"))
    return client


def test_admin_refuses_a_backtracking_pattern_with_the_reason(admin_browser):
    page = admin_browser.post(
        "/admin/handoff/escalationrule/add/",
        {"phrase": "(a+)+$", "match": "regex", "priority": "1", **CREATED},
    )

    assert page.status_code == 200
    assert "exponentially long" in page.content.decode()
    assert not EscalationRule.objects.filter(phrase="(a+)+$").exists()


def test_admin_shows_a_rule_over_the_budget_in_the_list_and_on_its_page(admin_browser):
    rule = EscalationRule.objects.create(
        phrase=EXPONENTIAL,
        match=Match.REGEX,
        timeout_count=3,
        last_timeout_at=timezone.now(),
    )

    listing = admin_browser.get("/admin/handoff/escalationrule/").content.decode()
    change = admin_browser.get(f"/admin/handoff/escalationrule/{rule.pk}/change/").content.decode()

    assert "Over the time budget" in listing
    assert 'class="field-over_budget">3<' in listing
    assert "ran past its time budget (50 ms) on 3 messages" in change


def test_saving_a_changed_pattern_in_admin_resets_the_count(admin_browser):
    rule = EscalationRule.objects.create(
        phrase="(a|b)+x", match=Match.REGEX, timeout_count=3, last_timeout_at=timezone.now()
    )

    page = admin_browser.post(
        f"/admin/handoff/escalationrule/{rule.pk}/change/",
        {"phrase": r"\bhelp\s+desk\b", "match": "regex", "priority": "1", **CREATED},
    )

    assert page.status_code == 302
    rule.refresh_from_db()
    assert (rule.phrase, rule.timeout_count, rule.last_timeout_at) == (r"\bhelp\s+desk\b", 0, None)
