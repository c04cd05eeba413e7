"""What a campaign's trigger properties must be, before anything is queued or saved.

A campaign gets exactly the properties it declares, each a non-empty string within
WhatsApp's 1,024-character template body limit, without control characters. The
services check what agents and bots send; the models' `clean` checks what admins fix on
FAQ entries and canned replies; both through these functions, so the two agree.

Pure: a campaign object and a dict in, errors out. No queries, no writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from handoff.rules.payloads import text_problem

if TYPE_CHECKING:
    from handoff.models import BrazeCampaign

# WhatsApp's limit for a template's body (and for what one variable can fill).
MAX_PROPERTY_CHARS = 1024


class CampaignInvalid(ValueError):
    """The campaign or its properties cannot be sent; `fields` names each problem."""

    def __init__(self, message: str, fields: dict[str, str]):
        super().__init__(message)
        self.message = message
        self.fields = fields


def property_errors(campaign: BrazeCampaign, properties) -> dict[str, str]:
    """What is wrong with `properties` for this campaign, by field; empty when fine.

    Exactly the declared names: a missing one would render as an empty gap in the
    customer's message, an unknown one is almost always a typo of a declared one.
    """
    if not isinstance(properties, dict):
        return {"properties": _("must be an object of property names and texts.")}
    declared = campaign.property_list
    errors: dict[str, str] = {}
    for name in declared:
        if name not in properties:
            errors[f"properties.{name}"] = _("is required by this campaign.")
    for name, value in properties.items():
        key = f"properties.{name}"
        if name not in declared:
            errors[key] = (
                _("is not a property of this campaign; it takes: %(names)s.")
                % {"names": ", ".join(declared)}
                if declared
                else _("is not a property of this campaign; it takes none.")
            )
        elif not isinstance(value, str):
            errors[key] = _("must be a string.")
        elif not value.strip():
            errors[key] = _("cannot be empty.")
        elif problem := text_problem(value, multiline=True):
            errors[key] = f"{problem}."
        elif len(value) > MAX_PROPERTY_CHARS:
            errors[key] = _(
                "is limited to %(limit)s characters (WhatsApp's template limit); this has "
                "%(count)s."
            ) % {"limit": f"{MAX_PROPERTY_CHARS:,}", "count": f"{len(value):,}"}
    return errors


def invalid_properties(campaign: BrazeCampaign, properties: dict, errors: dict) -> CampaignInvalid:
    """One sentence naming the missing and the unknown properties; `fields` has each."""
    declared = campaign.property_list
    given = properties if isinstance(properties, dict) else {}
    missing = [name for name in declared if name not in given]
    unknown = [name for name in given if name not in declared]
    parts = []
    if missing:
        parts.append(_("missing %(names)s") % {"names": ", ".join(missing)})
    if unknown:
        parts.append(_("unknown %(names)s") % {"names": ", ".join(map(str, unknown))})
    empty = [
        name
        for name in given
        if name in declared and isinstance(given[name], str) and not given[name].strip()
    ]
    if empty:
        parts.append(_("empty %(names)s") % {"names": ", ".join(empty)})
    others = [
        name
        for name in given
        if name in declared and name not in empty and f"properties.{name}" in errors
    ]
    if others:
        parts.append(_("invalid %(names)s") % {"names": ", ".join(others)})
    if not parts:
        parts.append(_("they must be an object"))
    return CampaignInvalid(
        _("The properties do not fit the campaign “%(name)s”: %(problems)s.")
        % {"name": campaign.name, "problems": "; ".join(parts)},
        errors,
    )


def check_campaign_properties(
    campaign: BrazeCampaign | None,
    properties,
    *,
    required: bool,
    filled_by_answer: tuple[str, ...] = (),
) -> None:
    """Admin's check of fixed trigger properties (FAQ entries, canned replies): a JSON
    object of strings, whose names the campaign declares (and, when `required`, all
    of them but those the answer fills)."""
    if properties in (None, ""):
        properties = {}
    if not isinstance(properties, dict):
        raise ValidationError(
            {"campaign_properties": _('Give a JSON object, for example {"name": "value"}.')}
        )
    if campaign is None:
        if properties:
            raise ValidationError(
                {"campaign_properties": _("Choose a campaign for these properties, or clear them.")}
            )
        return
    declared = campaign.property_list
    problems = []
    unknown = [name for name in properties if name not in declared]
    if unknown:
        problems.append(
            _("“%(campaign)s” has no property %(names)s; it takes: %(declared)s.")
            % {
                "campaign": campaign.name,
                "names": ", ".join(unknown),
                "declared": ", ".join(declared) or _("none"),
            }
        )
    not_text = [name for name, value in properties.items() if not isinstance(value, str)]
    if not_text:
        problems.append(
            _("Values must be texts (in quotes): %(names)s.") % {"names": ", ".join(not_text)}
        )
    controlled = [
        name
        for name, value in properties.items()
        if isinstance(value, str) and text_problem(value, multiline=True)
    ]
    if controlled:
        problems.append(
            _("Values may not hold control characters: %(names)s.")
            % {"names": ", ".join(controlled)}
        )
    if required:
        missing = [
            name for name in declared if name not in properties and name not in filled_by_answer
        ]
        if missing:
            problems.append(
                _("“%(campaign)s” also needs %(names)s.")
                % {"campaign": campaign.name, "names": ", ".join(missing)}
            )
    if problems:
        raise ValidationError({"campaign_properties": problems})
