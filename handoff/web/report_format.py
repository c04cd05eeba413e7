"""How the reports page writes its figures for people: durations in the two largest
units ("1 min 35 s", "2 h 10 min"), rates as percentages, nothing as a dash.

The JSON summary keeps whole seconds and four-decimal rates for tools; this module only
turns them into words, in the page's language. Pure.
"""

from django.utils.translation import gettext as _

NOTHING = "–"
MINUTE, HOUR, DAY = 60, 3600, 86400


def duration(seconds: float | None) -> str:
    """Whole seconds as the two largest units that matter, or a dash for none."""
    if seconds is None:
        return NOTHING
    whole = int(round(seconds))
    if whole < MINUTE:
        return _("%(s)d s") % {"s": whole}
    if whole < HOUR:
        minutes, rest = divmod(whole, MINUTE)
        if rest == 0:
            return _("%(m)d min") % {"m": minutes}
        return _("%(m)d min %(s)d s") % {"m": minutes, "s": rest}
    if whole < DAY:
        hours, rest = divmod(whole, HOUR)
        minutes = rest // MINUTE
        if minutes == 0:
            return _("%(h)d h") % {"h": hours}
        return _("%(h)d h %(m)d min") % {"h": hours, "m": minutes}
    days, rest = divmod(whole, DAY)
    hours = rest // HOUR
    if hours == 0:
        return _("%(d)d d") % {"d": days}
    return _("%(d)d d %(h)d h") % {"d": days, "h": hours}


def percent(share: float | None) -> str:
    """A share (0.3333) as a percentage with one decimal ("33.3%"), or a dash."""
    if share is None:
        return NOTHING
    return _("%(value).1f%%") % {"value": share * 100}


def count(value: int | float | None) -> str:
    """A count or an average as it is, or a dash for none."""
    if value is None:
        return NOTHING
    return f"{value:g}" if isinstance(value, float) else str(value)
