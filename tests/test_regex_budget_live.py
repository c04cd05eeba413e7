"""One admin regex and one customer message do not stall the server (issue 13).

Against the app under daphne: catastrophic escalation rules, inserted straight into
the database as if saved before the check existed, and the issue's 28-character
message. No wall-clock bound is asserted; the order of events is: the router has
already skipped a rule over its budget, then /healthz answers, then the routing of
the message finishes.
"""

import time

import pytest
import requests

from handoff.models import Conversation, EscalationRule, Message
from tests.conftest import wait_until
from tests.support.factories import webhook_body

pytestmark = pytest.mark.server

Match = EscalationRule.Match
ATTACK = "a" * 27 + "!"
# Exponential for the `regex` engine as well, so each one runs into the budget; the
# (?#n) comments only make the phrases distinct rows.
SLOW_RULES = 40


def test_healthz_answers_while_catastrophic_rules_run_and_the_message_is_still_routed(live, report):
    EscalationRule.objects.all().delete()
    issues_rule = EscalationRule.objects.create(phrase=r"(a+)+$", match=Match.REGEX, priority=1)
    slow = [
        EscalationRule.objects.create(phrase=f"(a|a)*$(?#{n})", match=Match.REGEX, priority=10)
        for n in range(SLOW_RULES)
    ]
    EscalationRule.objects.create(phrase="aaaa", match=Match.CONTAINS, priority=100)

    assert live.post_webhook(webhook_body("u-redos", ATTACK)).status_code == 200
    message = Message.objects.get(contact__external_id="u-redos")

    # The router is inside the rules: the first slow one has run past its budget.
    wait_until(
        lambda: EscalationRule.objects.filter(pk=slow[0].pk, timeout_count__gte=1).exists(),
        timeout=60,
        message="the router never reached the slow rules",
    )
    answered_while_routing = []
    latencies = []
    while True:
        started = time.perf_counter()
        health = requests.get(live.url + "/healthz", timeout=60)
        latencies.append(time.perf_counter() - started)
        assert health.status_code == 200
        message.refresh_from_db()
        if message.routing_state == Message.Routing.DONE:
            break
        answered_while_routing.append(health)
        time.sleep(0.02)

    assert answered_while_routing, "/healthz never answered before the routing finished"
    conversation = Conversation.objects.get(contact__external_id="u-redos")
    assert conversation.state == Conversation.State.WAITING
    assert conversation.escalation_reason == "keyword:aaaa"  # the later rule still applied
    counts = EscalationRule.objects.filter(pk__in=[rule.pk for rule in slow])
    assert all(rule.timeout_count >= 1 for rule in counts)
    # (a+)+$ is exponential only for the stdlib's engine; `regex` answers it at once.
    issues_rule.refresh_from_db()
    assert issues_rule.timeout_count == 0
    median = sorted(latencies)[len(latencies) // 2]
    report(
        f"regex budget: /healthz answered {len(answered_while_routing)} times while "
        f"{SLOW_RULES} rules ran into the budget; slowest answer "
        f"{max(latencies) * 1000:.0f} ms, median {median * 1000:.0f} ms"
    )
