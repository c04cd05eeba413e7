"""Reading `@username` in a private note (handoff/rules/mentions.py): pure, no database."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handoff.rules.mentions import candidates, read_mentions, written_mentions

AGENTS = ["aiko", "ben", "ben.smith", "chloé", "dan@corp", "eve-", "田中"]


@pytest.mark.parametrize(
    ("text", "mentioned", "unresolved"),
    [
        ("@ben can you look at this?", ["ben"], []),
        ("ping @ben", ["ben"], []),
        ("@Ben and @BEN", ["ben"], []),  # case does not matter; notified once
        ("＠ｂｅｎ お願いします", ["ben"], []),  # a Japanese keyboard's full-width @ and letters
        ("thanks @ben.", ["ben"], []),  # the sentence's full stop is not part of the name
        ("@ben, @ben! @ben? @ben: @ben;", ["ben"], []),
        ("(@ben) [@ben] «@ben»", ["ben"], []),
        ("@ben…", ["ben"], []),
        ("@ben's order", ["ben"], []),
        ("@benさん、確認お願いします", ["ben"], []),  # Japanese straight after the name
        ("@田中さん", ["田中"], []),
        ("@ben.smith knows", ["ben.smith"], []),  # the longest name that is an agent
        ("@ben.smith.", ["ben.smith"], []),
        ("@dan@corp please", ["dan@corp"], []),  # Django allows @ in usernames
        ("@eve- here", ["eve-"], []),  # a name that really ends in punctuation wins
        ("@chloé", ["chloé"], []),
        ("@CHLOÉ", ["chloé"], []),
        ("@ben\n@aiko", ["ben"], []),  # the author (aiko) is never notified
        ("@aiko note to self", [], []),
        ("@ben @ben.smith", ["ben", "ben.smith"], []),
        ("mail a@ben.com or ben@example.com", [], []),  # e-mail addresses mention no one
        ("x@ben", [], []),
        ("@bennett", [], ["bennett"]),  # not ben: the name goes on
        ("@ben_", [], ["ben_"]),
        ("@ben2", [], ["ben2"]),
        ("@ben.smithers", [], ["ben.smithers"]),
        ("@bob.", [], ["bob"]),
        ("@bob and @Bob and @bob!", [], ["bob"]),
        ("@ben and @nobody", ["ben"], ["nobody"]),
        ("@ben@example.com", [], ["ben@example.com"]),
        ("an @ alone, @@", [], []),
        ("no mentions at all", [], []),
        ("", [], []),
    ],
)
def test_a_note_mentions_the_agents_it_names(text, mentioned, unresolved):
    found = read_mentions(text, usernames=AGENTS, author="aiko")

    assert list(found.usernames) == mentioned
    assert list(found.unresolved) == unresolved


def test_of_two_usernames_differing_in_case_the_one_written_exactly_wins():
    agents = ["Ben", "ben"]

    assert read_mentions("@Ben", usernames=agents).usernames == ("Ben",)
    assert read_mentions("@ben", usernames=agents).usernames == ("ben",)
    assert read_mentions("@BEN", usernames=agents).usernames == ()
    assert read_mentions("@BEN", usernames=agents).unresolved == ("BEN",)


def test_mentions_are_listed_in_the_order_written():
    found = read_mentions("@田中 @ben @aiko @ben", usernames=AGENTS, author="")

    assert found.usernames == ("田中", "ben", "aiko")


def test_the_candidates_of_a_written_name_are_cut_at_punctuation_and_script_changes():
    assert candidates("ben") == ["ben"]
    assert candidates("ben.") == ["ben.", "ben"]
    assert candidates("ben.smith") == ["ben.smith"]
    assert candidates("benさん") == ["benさん", "ben"]
    assert candidates("田中さん") == ["田中さん", "田中"]
    assert len(candidates("x" * 500)) == 0  # longer than any username can be


def test_written_mentions_skip_addresses_and_keep_repeats():
    assert written_mentions("@a @b a@c.d @a") == ["a", "b", "a"]


@given(st.text(), st.lists(st.text(min_size=1, max_size=20), max_size=8), st.text(max_size=10))
def test_only_listed_agents_other_than_the_author_are_ever_mentioned(text, agents, author):
    found = read_mentions(text, usernames=agents, author=author)

    assert set(found.usernames) <= set(agents) - {author}
    assert len(set(found.usernames)) == len(found.usernames)
    if "@" not in text and "＠" not in text:
        assert found.usernames == () and found.unresolved == ()
