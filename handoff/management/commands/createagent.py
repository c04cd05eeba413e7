"""Create (or update) an agent: an active user in the "Agents" group, optionally with
a capacity (the most open conversations they hold at once).

A password given or typed must pass AUTH_PASSWORD_VALIDATORS, as in the admin; the
command never stores a weak one. A capacity outside 1-999 is refused before anything
is changed.
"""

import getpass
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from handoff.rules.agents import capacity_problem
from handoff.selectors.agents import user_named
from handoff.services import seats


class Command(BaseCommand):
    help = "Create an agent who can answer conversations in the inbox."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument("--first-name", default="")
        parser.add_argument(
            "--password",
            help="Set this password (otherwise asked for; with --no-input, generated and printed).",
        )
        parser.add_argument(
            "--capacity",
            type=int,
            help=(
                "The most open conversations this agent holds at once, 1 to 999 "
                "(otherwise kept, or HANDOFF_DEFAULT_CAPACITY for a new agent)."
            ),
        )
        parser.add_argument("--no-input", action="store_true", help="Never prompt.")

    def handle(self, *args, username, email, first_name, password, capacity, no_input, **options):
        if capacity is not None and (problem := capacity_problem(capacity)):
            raise CommandError(f"--capacity {problem}. Nothing was changed.")
        User = get_user_model()
        try:
            group = Group.objects.get(name="Agents")
        except Group.DoesNotExist as error:
            raise CommandError(
                "The 'Agents' group is missing: run `manage.py migrate` first."
            ) from error
        user = user_named(username)
        created = user is None
        if created:
            user = User(username=username)
        if email:
            user.email = email
        if first_name:
            user.first_name = first_name
        user.is_active = True
        generated = False
        if password is None and (created or not user.has_usable_password()):
            if no_input:
                password, generated = secrets.token_urlsafe(12), True
            else:
                password = getpass.getpass(f"Password for {username}: ")
                if not password:
                    raise CommandError("An empty password is not allowed.")
        if password is not None:
            try:
                validate_password(password, user)
            except ValidationError as error:
                raise CommandError(
                    "Password refused: " + " ".join(error.messages) + " Nothing was changed."
                ) from error
            user.set_password(password)
        user.save()
        user.groups.add(group)
        if capacity is not None:
            seats.set_capacity(agent_id=user.pk, capacity=capacity)
        held = f" (capacity {capacity})" if capacity is not None else ""
        self.stdout.write(f"{'Created' if created else 'Updated'} agent {username}{held}.")
        if generated:
            self.stdout.write(f"Generated password: {password}")
