// SLA clocks as the inbox shows them: the chip on a list row and in the pane's header
// ("FRT 12 min", amber at risk, red breached), its once-a-second countdown, the
// transcript's line for a breach, and whether a breach is mine to be told about.
// The server decides every state (services/sla.py): ok, at_risk and breached arrive in
// `conversation.updated`; this module only counts down to the due time it was given
// and never turns a chip at risk or breached by itself. Never touch the network here.
import { ME, MY_TEAMS } from "./state.js";
import { duration, el, fmt, ms, upcoming, when } from "./util.js";

const { gettext } = window;

// Within this much wall time a countdown is shown; further off, the due time. The due
// time already skips closed hours, so a clock paused overnight reads "due Mon 9:30"
// instead of a countdown that seems to run while nobody is at work.
const COUNTDOWN_SECONDS = 3600;

/** "FRT", "NRT", "RT": the clock's short name. */
export function slaKindShort(kind) {
  return (
    {
      first_response: gettext("FRT"),
      next_response: gettext("NRT"),
      resolution: gettext("RT"),
    }[kind] || kind
  );
}

/** "first response": the clock's name in words. */
export function slaKindName(kind) {
  return (
    {
      first_response: gettext("first response"),
      next_response: gettext("next response"),
      resolution: gettext("resolution"),
    }[kind] || kind
  );
}

/** The chip's words now: "FRT 12 min", "FRT due Mon 9:30", "FRT breached". */
export function slaText(sla) {
  const short = slaKindShort(sla.kind);
  if (sla.state === "breached") return fmt(gettext("%(kind)s breached"), { kind: short });
  const left = (ms(sla.due_at) - Date.now()) / 1000;
  if (left <= 0) return fmt(gettext("%(kind)s due now"), { kind: short });
  if (left <= COUNTDOWN_SECONDS) {
    return fmt(gettext("%(kind)s %(left)s"), { kind: short, left: duration(left) });
  }
  return fmt(gettext("%(kind)s due %(when)s"), { kind: short, when: upcoming(sla.due_at) });
}

function slaTitle(sla) {
  const values = { kind: slaKindName(sla.kind), when: when(sla.due_at) };
  if (sla.state === "breached") return fmt(gettext("SLA %(kind)s target missed (due %(when)s)"), values);
  if (sla.state === "at_risk") return fmt(gettext("SLA %(kind)s at risk: due %(when)s"), values);
  return fmt(gettext("SLA %(kind)s due %(when)s (opening hours only)"), values);
}

/** The chip for a conversation's `sla` (null: no chip). */
export function slaNode(sla, { small = true } = {}) {
  if (!sla) return null;
  return el("span", {
    class: `chip${small ? " small" : ""} sla-chip sla-${sla.state}`,
    dataset: { slaDue: sla.due_at, slaKind: sla.kind, slaState: sla.state },
    title: slaTitle(sla),
    text: slaText(sla),
  });
}

/** The pane header's chip, kept in place (the template holds it). */
export function renderSlaChip(node, sla) {
  node.hidden = !sla;
  if (!sla) return;
  node.className = `chip sla-chip sla-${sla.state}`;
  Object.assign(node.dataset, { slaDue: sla.due_at, slaKind: sla.kind, slaState: sla.state });
  node.title = slaTitle(sla);
  node.textContent = slaText(sla);
}

/** The once-a-second tick: every chip counts down to its due time. */
export function tickSla() {
  for (const node of document.querySelectorAll(".sla-chip[data-sla-due]")) {
    if (node.hidden) continue;
    node.textContent = slaText({
      due_at: node.dataset.slaDue,
      kind: node.dataset.slaKind,
      state: node.dataset.slaState,
    });
  }
}

/** The transcript's line: "SLA missed: first response (target 60 min, due 10:00; assigned to aiko)". */
export function breachText(data) {
  const values = {
    kind: slaKindName(data.kind),
    minutes: data.minutes ?? "?",
    when: when(data.due_at),
    who: data.assignee || "",
  };
  return data.assignee
    ? fmt(gettext("SLA missed: %(kind)s (target %(minutes)s min, due %(when)s; assigned to %(who)s)"), values)
    : fmt(gettext("SLA missed: %(kind)s (target %(minutes)s min, due %(when)s; unassigned)"), values);
}

/** Whether a breach is mine to be told: my chat, or, while nobody has it, a chat of my
 * team's queue (of no team: everyone's). */
export function breachIsMine(conversation, data) {
  if (data.assignee) return data.assignee === ME;
  return !conversation.team || MY_TEAMS.includes(conversation.team);
}
