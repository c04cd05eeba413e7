// What the open conversation allows: pure answers from the state and the clock
// (which actions, whether the reply box or a campaign may be used, how long
// WhatsApp's window has left, whether a waiting chat came outside opening hours).
// The server decides for real (docs/api.md); these only keep the page from
// offering what it would refuse. Never touch the page, the network or the state
// here: read only.
import { ME, STAFF, state } from "./state.js";
import { fmt, ms } from "./util.js";

const { gettext } = window;

/** The buttons (and keys) that apply to a conversation in its state. */
export function allowedActions(conversation) {
  const mine = conversation.state === "assigned" && conversation.assignee === ME;
  return {
    claim: conversation.state === "waiting",
    "take-over": conversation.state === "bot",
    transfer: conversation.state === "waiting" || mine || (conversation.state === "assigned" && STAFF),
    release: mine,
    resolve: mine || conversation.state === "waiting" || conversation.state === "bot",
  };
}

/** A waiting conversation handed over outside opening hours, until they open:
 * `{ opensAt }` (an ISO time, or null when no opening was in sight), else null. */
export function closedUntil(detail) {
  if (!detail || detail.conversation.state !== "waiting") return null;
  const handover = [...detail.events].reverse().find((event) => event.kind === "escalated");
  const data = (handover && handover.data) || {};
  if (!data.outside_hours) return null;
  if (data.opens_at && ms(data.opens_at) <= Date.now()) return null;
  return { opensAt: data.opens_at || null };
}

/** Seconds left in the open contact's 24-hour window, or null when it never opened. */
export function windowLeft() {
  const contact = state.detail && state.detail.contact;
  if (!contact || !contact.window_closes_at) return null;
  return (ms(contact.window_closes_at) - Date.now()) / 1000;
}

/** Whether the reply box is closed, and the reason to show above it. A private note
 * may be written in any conversation, whatever its state or owner (docs/api.md). */
export function composerBlock() {
  if (!state.detail) return { disabled: true, reason: "" };
  if (state.composeMode === "note") {
    return {
      disabled: false,
      reason: gettext("Private note: only agents see this. @name notifies an agent."),
    };
  }
  const { conversation } = state.detail;
  if (conversation.state === "resolved") {
    return {
      disabled: true,
      reason: gettext("This conversation is resolved: the customer's next message starts a new one."),
    };
  }
  if (conversation.state === "assigned" && conversation.assignee !== ME) {
    return {
      disabled: true,
      reason: fmt(gettext("%(who)s is handling this conversation. Only they can reply."), {
        who: conversation.assignee,
      }),
    };
  }
  const left = windowLeft();
  if (left === null || left <= 0) {
    return {
      disabled: true,
      reason: gettext(
        "WhatsApp's 24-hour window has closed: a reply cannot reach the customer until they write again.",
      ),
    };
  }
  if (conversation.state === "bot") {
    return { disabled: false, reason: gettext("Replying takes this conversation over from the bot.") };
  }
  if (conversation.state === "waiting") {
    // Claiming first keeps the reason the customer was handed over on record.
    return { disabled: true, reason: gettext("Claim this conversation (c) to reply.") };
  }
  return { disabled: false, reason: "" };
}

// A campaign (a Meta-approved template above all) is the only thing that reaches a
// customer whose 24-hour window has closed, so it stays available when the
// composer is not; a resolved conversation is reopened by it (docs/api.md).

/** True when no campaign may be sent from the open conversation right now. */
export function campaignBlocked() {
  if (!state.detail || !state.campaigns.length || state.sending) return true;
  const { conversation } = state.detail;
  return conversation.state === "assigned" && conversation.assignee !== ME;
}
