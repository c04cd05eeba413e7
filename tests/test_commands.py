"""Management commands an operator runs from the shell."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from handoff.rules.agents import is_agent

pytestmark = pytest.mark.django_db


def test_createagent_makes_an_active_agent_who_can_log_in(agents_group, capsys):
    call_command("createagent", "aiko", "--password", "a-long-password-1", "--first-name", "Aiko")

    user = get_user_model().objects.get(username="aiko")
    assert is_agent(user)
    assert user.first_name == "Aiko"
    assert user.check_password("a-long-password-1")
    assert "Created agent aiko." in capsys.readouterr().out


def test_createagent_without_input_generates_and_prints_a_password(agents_group, capsys):
    call_command("createagent", "ben", "--no-input")

    printed = capsys.readouterr().out.split("Generated password: ")[1].strip()
    assert get_user_model().objects.get(username="ben").check_password(printed)


def test_createagent_on_an_existing_user_keeps_the_password_and_adds_the_group(agents_group):
    user = get_user_model().objects.create_user("carol", password="kept-password-1")

    call_command("createagent", "carol", "--no-input")

    user.refresh_from_db()
    assert user.check_password("kept-password-1")
    assert is_agent(user)


def test_createagent_explains_a_missing_agents_group():
    from django.contrib.auth.models import Group

    Group.objects.filter(name="Agents").delete()
    with pytest.raises(CommandError, match="migrate"):
        call_command("createagent", "dan", "--no-input")


def test_seed_demo_refuses_to_create_known_passwords_outside_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo")
    assert not get_user_model().objects.filter(username="admin").exists()
