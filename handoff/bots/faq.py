"""The built-in bot: answers from admin-managed FAQ entries, and says when it cannot.

Matching compares the message's features (stemmed words, Japanese character pairs,
see `handoff.rules.text.features`) with each phrasing's by their Dice overlap, so word
order, case, width and small wording differences do not matter. Below the threshold
it answers nothing, which is what lets fallback escalation work.
"""

from dataclasses import dataclass

from django.conf import settings

from handoff.bots import BotAnswer, BotRequest
from handoff.models import FaqEntry
from handoff.rules.text import features

MATCH_THRESHOLD = 0.6


@dataclass(frozen=True)
class FaqMatch:
    entry: FaqEntry
    phrasing: str
    score: float


def similarity(message_features: frozenset[str], phrasing_features: frozenset[str]) -> float:
    if not message_features or not phrasing_features:
        return 0.0
    overlap = len(message_features & phrasing_features)
    return 2 * overlap / (len(message_features) + len(phrasing_features))


def best_match(text: str, entries) -> FaqMatch | None:
    """The entry whose closest phrasing scores highest, if it reaches the threshold."""
    message_features = features(text)
    best: FaqMatch | None = None
    for entry in entries:
        for phrasing in entry.question_list:
            score = similarity(message_features, features(phrasing))
            if score >= MATCH_THRESHOLD and (best is None or score > best.score):
                best = FaqMatch(entry=entry, phrasing=phrasing, score=score)
    return best


def entries_for(request: BotRequest):
    """The active entries the bot may answer from: all, or the topic route's subset."""
    entries = FaqEntry.objects.filter(is_active=True).select_related("campaign")
    if request.knowledge_ids is not None:
        entries = entries.filter(pk__in=request.knowledge_ids)
    return entries


def answer_for(entry: FaqEntry) -> BotAnswer:
    """The entry's answer; through its campaign when it names one, the answer filling
    the settings' message property if the campaign declares it."""
    campaign = entry.campaign
    if campaign is None:
        return BotAnswer(text=entry.answer)
    properties = {str(k): v for k, v in (entry.campaign_properties or {}).items()}
    if settings.BRAZE_MESSAGE_PROPERTY in campaign.property_list:
        properties.setdefault(settings.BRAZE_MESSAGE_PROPERTY, entry.answer)
    return BotAnswer(text=entry.answer, campaign=campaign.key, properties=properties)


class FaqBot:
    def answer(self, request: BotRequest) -> BotAnswer:
        match = best_match(request.text, entries_for(request))
        return answer_for(match.entry) if match else BotAnswer()
