// The conversation pane's transcript: messages, private notes, audit events and
// delivery states. Customer and agent text goes in with text nodes only (see util.el).
import { breachText } from "./sla.js";
import { el, fmt, upcoming, when } from "./util.js";

const { gettext } = window;

/** The hand-over reason in words: "keyword “agent”", "the bot could not answer". */
export function reasonText(reason) {
  if (!reason) return "";
  if (reason.startsWith("keyword:")) {
    return fmt(gettext("keyword “%(phrase)s”"), { phrase: reason.slice("keyword:".length) });
  }
  if (reason.startsWith("topic:")) {
    return fmt(gettext("topic “%(topic)s”"), { topic: reason.slice("topic:".length) });
  }
  const known = {
    bot_fallback: gettext("the bot could not answer"),
    bot_handoff: gettext("the bot handed over"),
    bot_error: gettext("the bot failed"),
    agent_takeover: gettext("an agent took over from the bot"),
  };
  return known[reason] || reason;
}

export function stateText(state) {
  return (
    {
      bot: gettext("Bot"),
      waiting: gettext("Waiting"),
      assigned: gettext("Assigned"),
      resolved: gettext("Resolved"),
    }[state] || state
  );
}

/** "Outside opening hours · opens Mon 9:00": the customer was told when, not "shortly". */
export function outsideHoursText(opensAt) {
  return opensAt
    ? fmt(gettext("Outside opening hours · opens %(when)s"), { when: upcoming(opensAt) })
    : gettext("Outside opening hours");
}

function actorName(event) {
  if (event.actor) return event.actor;
  return event.actor_kind === "bot" ? gettext("the bot") : gettext("the system");
}

/** "Assigned by handoff to ben (3 of 4 open; also free: aiko)": who and why, so
 * "why me?" and "why not me?" both have an answer in the transcript. */
export function assignedText(data) {
  const line = fmt(gettext("Assigned by handoff to %(to)s (%(open)s of %(capacity)s open)"), {
    to: data.to,
    open: data.open_count ?? "?",
    capacity: data.capacity ?? "?",
  });
  const others = data.others_free || [];
  if (!others.length) return line;
  return `${line} · ${fmt(gettext("also free: %(names)s"), { names: others.join(", ") })}`;
}

export function eventText(event) {
  const data = event.data || {};
  const who = actorName(event);
  switch (event.kind) {
    case "opened":
      return gettext("Conversation opened");
    case "escalated": {
      const line = fmt(gettext("Escalated: %(reason)s"), { reason: reasonText(data.reason || "") });
      if (data.outside_hours) return `${line} · ${outsideHoursText(data.opens_at)}`;
      return data.queue_position ? `${line} · ${placeToldText(data)}` : line;
    }
    case "claimed":
      return fmt(gettext("Claimed by %(who)s"), { who });
    case "assigned":
      return assignedText(data);
    case "returned":
      return fmt(
        gettext("Back to the queue: the customer waited %(minutes)s min for a reply from %(from)s"),
        { minutes: data.minutes ?? "?", from: data.from || "?" },
      );
    case "transferred": {
      const line = data.from
        ? fmt(gettext("Transferred from %(from)s to %(to)s by %(who)s"), {
            from: data.from,
            to: data.to,
            who,
          })
        : fmt(gettext("Assigned to %(to)s by %(who)s"), { to: data.to, who });
      return data.over_capacity ? `${line} · ${gettext("over their capacity")}` : line;
    }
    case "released":
      return fmt(gettext("Released to the queue by %(who)s"), { who });
    case "taken_over":
      return fmt(gettext("Taken over from the bot by %(who)s"), { who });
    case "resolved": {
      let line;
      if (data.survey && data.survey.sent) {
        line = fmt(gettext("Resolved by %(who)s (back to the bot); satisfaction survey sent"), { who });
      } else if (data.survey) {
        line = fmt(gettext("Resolved by %(who)s (back to the bot); survey not sent: %(reason)s"), {
          who,
          reason: data.survey.reason || "",
        });
      } else {
        line = fmt(gettext("Resolved by %(who)s (back to the bot)"), { who });
      }
      if (data.resolved_text) {
        line += " · " + gettext("closing message not sent: the 24-hour window had closed");
      }
      return line;
    }
    case "bot_reply_dropped":
      if (data.campaign) {
        return data.sent_as_text
          ? fmt(gettext("The bot's campaign “%(campaign)s” was not used (%(reason)s); its text went out as plain text"), {
              campaign: data.campaign,
              reason: data.reason || "",
            })
          : fmt(gettext("The bot's campaign “%(campaign)s” was not used: %(reason)s"), {
              campaign: data.campaign,
              reason: data.reason || "",
            });
      }
      return gettext("A bot reply was not sent: a person owns this conversation");
    case "duplicate_merged":
      return data.topic_changed
        ? fmt(gettext("The same message came through another campaign (topic “%(topic)s”): stored once, routed by that topic"), {
            topic: data.merged_topic || "",
          })
        : fmt(gettext("The same message came through another campaign (%(topic)s): stored once"), {
            topic: data.merged_topic ? `“${data.merged_topic}”` : gettext("no topic"),
          });
    case "reopened":
      return data.campaign
        ? fmt(gettext("Reopened by %(who)s to send “%(campaign)s”"), { who, campaign: data.campaign })
        : fmt(gettext("Reopened by %(who)s"), { who });
    case "delivery_failed":
      return fmt(gettext("Delivery failed: %(error)s"), { error: data.error || "" });
    case "delivery_retried":
      return fmt(gettext("Delivery retried by %(who)s"), { who });
    case "sla_breached":
      return breachText(data);
    case "window_closing":
      return data.campaign
        ? fmt(gettext("The WhatsApp window was about to close unanswered: re-engagement campaign “%(campaign)s” sent"), {
            campaign: data.campaign,
          })
        : gettext("The WhatsApp window is about to close unanswered: answer now, or only a template can reach the customer");
    case "prioritized":
      return fmt(gettext("Moved ahead of older chats: the WhatsApp window closes in %(minutes)s min"), {
        minutes: data.minutes_left ?? "?",
      });
    case "satisfaction":
      return fmt(gettext("The customer rated this conversation %(score)s/5"), { score: data.score ?? "?" });
    default:
      return event.kind;
  }
}

export function eventNode(event) {
  return el(
    "div",
    { class: `event event-${event.kind}`, dataset: { eventId: event.id } },
    el("span", { class: "event-text", text: eventText(event) }),
    el("time", { class: "muted", datetime: event.created_at, text: when(event.created_at) }),
  );
}

function authorLabel(message, contactName) {
  switch (message.author_kind) {
    case "customer":
      return contactName || gettext("Customer");
    case "bot":
      return gettext("Bot");
    case "agent":
      return message.author || gettext("Agent");
    default:
      return gettext("System");
  }
}

const DELIVERY_LABELS = () => ({
  queued: gettext("queued"),
  sent: gettext("sent"),
  retrying: gettext("retrying"),
  failed: gettext("failed"),
});

/** The delivery line under an outbound message; `onRetry(messageId)` for failed ones. */
export function deliveryNode(message, onRetry) {
  const delivery = message.delivery || { state: "queued" };
  const parts = [
    el("span", {
      class: "delivery-state",
      dataset: { state: delivery.state },
      text: DELIVERY_LABELS()[delivery.state] || delivery.state,
    }),
  ];
  if (delivery.state === "retrying") {
    const next = delivery.next_attempt_at
      ? fmt(gettext("attempt %(n)s, next try %(at)s"), {
          n: delivery.attempts,
          at: when(delivery.next_attempt_at),
        })
      : fmt(gettext("attempt %(n)s"), { n: delivery.attempts });
    parts.push(el("span", { class: "muted", text: next }));
    if (delivery.last_error) parts.push(el("span", { class: "error-text", text: delivery.last_error }));
  }
  if (delivery.state === "failed") {
    parts.push(
      el("span", { class: "error-text", text: delivery.last_error || gettext("Braze refused it") }),
      el("button", {
        type: "button",
        class: "small",
        dataset: { retry: message.id },
        text: gettext("Retry"),
        onclick: () => onRetry(message.id),
      }),
    );
  }
  return el("div", { class: "delivery" }, parts);
}

function safeUrl(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
  } catch {
    return null;
  }
}

export function messageNode(message, contactName, onRetry) {
  const media = (message.media_urls || []).map((url) => {
    const href = safeUrl(url);
    return href
      ? el("a", { href, target: "_blank", rel: "noopener noreferrer", class: "media", text: url })
      : el("span", { class: "media", text: url });
  });
  return el(
    "div",
    {
      class: `msg msg-${message.author_kind} msg-${message.direction}`,
      dataset: { messageId: message.id },
    },
    el(
      "div",
      { class: "msg-meta" },
      el("span", { class: "msg-author", text: authorLabel(message, contactName) }),
      message.campaign
        ? el("span", {
            class: "campaign-badge",
            title: fmt(gettext("Sent through the Braze campaign “%(name)s”"), {
              name: message.campaign.name,
            }),
            text: message.campaign.name,
          })
        : null,
      el("time", { class: "muted", datetime: message.created_at, text: when(message.created_at) }),
    ),
    el("div", { class: "msg-text", text: message.text }),
    media,
    message.direction === "out" ? deliveryNode(message, onRetry) : null,
  );
}

// A mention as handoff/rules/mentions.py reads one: "@" (or "＠") not after a
// character a username can hold, then a username's characters.
const MENTION = /(?<![\p{L}\p{N}_.@+\-＠])[@＠]([\p{L}\p{N}_.@+\-]+)/gu;
const fold = (name) => name.normalize("NFKC").toLowerCase();
const isAscii = (char) => char.charCodeAt(0) < 128;

/** How much of a written `@token` is the name of an agent the note mentioned (0: none):
 * the longest such name followed by nothing, trailing punctuation or another script. */
function mentionLength(token, mentions) {
  let best = 0;
  for (const name of mentions) {
    const n = name.length;
    if (n <= best || n > token.length || fold(token.slice(0, n)) !== fold(name)) continue;
    const rest = token.slice(n);
    if (!rest || /^[.@+-]+$/.test(rest) || isAscii(token[n - 1]) !== isAscii(rest[0])) best = n;
  }
  return best;
}

/** The note's text with the mentions of agents it notified marked (mine more so). */
function noteText(note, me) {
  const text = note.text;
  const mentions = note.mentions || [];
  const parts = [];
  let at = 0;
  for (const match of text.matchAll(MENTION)) {
    const length = mentionLength(match[1], mentions);
    if (!length) continue;
    const written = text.slice(match.index, match.index + 1 + length);
    const mine = fold(written.slice(1)) === fold(me);
    parts.push(text.slice(at, match.index));
    parts.push(el("mark", { class: mine ? "mention mention-me" : "mention", text: written }));
    at = match.index + written.length;
  }
  parts.push(text.slice(at));
  return parts;
}

/** A private note: for agents only, drawn unlike anything the customer sees. */
export function noteNode(note, me) {
  return el(
    "div",
    { class: "note", dataset: { noteId: note.id } },
    el(
      "div",
      { class: "msg-meta" },
      el("span", { class: "msg-author", text: note.author }),
      el("span", { class: "note-label", text: gettext("Private note · only agents see this") }),
      el("time", { class: "muted", datetime: note.created_at, text: when(note.created_at) }),
    ),
    el("div", { class: "msg-text" }, noteText(note, me)),
  );
}

/**
 * Where the bot's part of the transcript ends: at the first hand-over. For an
 * escalation, the customer message that caused it stays on the human side (only
 * events may lie between them). Null: there was no hand-over, all of it is the bot's.
 */
export function splitIndex(items) {
  const handover = items.findIndex(
    (item) => item.event && (item.event.kind === "escalated" || item.event.kind === "taken_over"),
  );
  if (handover < 0) return null;
  if (items[handover].event.kind !== "escalated") return handover;
  for (let i = handover - 1; i >= 0; i -= 1) {
    const message = items[i].message;
    if (!message) continue;
    return message.author_kind === "customer" ? i : handover;
  }
  return handover;
}

/** What the hand-over message promised the customer: "told: number 3 in the queue,
 * 10–55 min", so the agent knows what they are held to. */
function placeToldText(data) {
  const told = data.wait_told;
  if (!told) return fmt(gettext("told: number %(place)s in the queue, wait not known"), { place: data.queue_position });
  if (told[1] <= 60) return fmt(gettext("told: number %(place)s in the queue, under a minute"), { place: data.queue_position });
  return fmt(gettext("told: number %(place)s in the queue, %(low)s–%(high)s min"), {
    place: data.queue_position,
    low: Math.floor(told[0] / 60),
    high: Math.ceil(told[1] / 60),
  });
}

/** Messages, events and notes in one timeline, oldest first. */
export function timeline(messages, events, notes = []) {
  const items = [
    ...messages.map((message) => ({ at: Date.parse(message.created_at), message })),
    ...events.map((event) => ({ at: Date.parse(event.created_at), event })),
    ...notes.map((note) => ({ at: Date.parse(note.created_at), note })),
  ];
  items.sort((a, b) => a.at - b.at || (a.message ? 0 : 1) - (b.message ? 0 : 1));
  return items;
}
