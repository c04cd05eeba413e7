// Live events (docs/websocket.md) applied to the state and the page: the list, the
// counts, the open conversation, the waiting alert, a chat assigned to me, a private
// note's mention of me.
// API answers that carry a changed conversation come through applyConversation too,
// so both paths draw the same.
// Never call the API or the socket from here: this takes in what happened, and
// what follows from it (marking read, opening on a click) is pane.js's to ask.
import {
  knowLabel,
  placeInList,
  refreshCounts,
  reloadListSoon,
  renderList,
  selectQueue,
} from "./list.js";
import { beep, notify } from "./notify.js";
import { applyToOpen, closeConversation, markRead, openConversation, renderContact } from "./pane.js";
import { applyPresence } from "./presence.js";
import { ME, forgetConversations, inMyQueues, rememberSummary, state } from "./state.js";
import { breachIsMine, slaKindName } from "./sla.js";
import { applyMyPresence } from "./status.js";
import { reasonText } from "./thread.js";
import { toast } from "./toasts.js";
import { fmt } from "./util.js";

const { gettext } = window;

/** A conversation's new state, from an event or an API answer (event null then). */
export function applyConversation(conversation, event) {
  const previous = state.convs.get(conversation.id);
  const known = previous && previous.last_message;
  const last = conversation.last_message;
  if (known && last && known.id === last.id) {
    conversation = { ...conversation, last_message: known }; // with its author, from the message
  } else if (last && last.author_kind === "customer" && !("unread" in conversation)) {
    // An event's row brings a customer's message this page was not sent (it was in
    // another list, docs/websocket.md): unread, as it would have been.
    if (state.openId !== conversation.id || document.hidden) conversation = { ...conversation, unread: true };
  }
  knowLabel(conversation.queue_label);
  rememberSummary(conversation);
  placeInList(state.convs.get(conversation.id));
  renderList();
  refreshCounts();
  const startedWaiting =
    conversation.state === "waiting" &&
    (previous ? previous.state !== "waiting" : event && ["escalated", "released"].includes(event.kind));
  // Not for a chat I released myself (I know it is waiting), nor another team's.
  if (startedWaiting && event && event.actor !== ME && inMyQueues(conversation)) {
    announceWaiting(conversation);
  }
  if (event && event.kind === "assigned" && (event.data || {}).to === ME) announceAssigned(conversation);
  if (event && event.kind === "returned" && (event.data || {}).from === ME) announceReturned(conversation, event.data);
  if (event && event.kind === "sla_breached" && breachIsMine(conversation, event.data || {})) {
    announceBreach(conversation, event.data || {});
  }
  const closing = event && event.kind === "window_closing" ? event.data || {} : null;
  if (closing && !closing.campaign && breachIsMine(conversation, closing)) {
    announceWindowClosing(conversation);
  }
  applyToOpen({ type: "conversation.updated", conversation, event });
}

/** The reply timer took a chat of mine back: say why, so it is not a mystery. */
function announceReturned(conversation, data) {
  const contact = conversation.contact || {};
  toast(
    fmt(gettext("%(who)s went back to the queue: the customer waited %(minutes)s min for your reply."), {
      who: contact.name || contact.phone_number || `#${conversation.id}`,
      minutes: data.minutes ?? "?",
    }),
    "warning",
  );
}

/** An SLA target was missed on my chat, or on an unassigned one of my team's queue:
 * a sound, a notification that opens it, and a toast. */
function announceBreach(conversation, data) {
  const contact = conversation.contact || {};
  const who = contact.name || contact.phone_number || `#${conversation.id}`;
  const text = fmt(gettext("SLA missed on %(who)s: %(kind)s (target %(minutes)s min)."), {
    who,
    kind: slaKindName(data.kind),
    minutes: data.minutes ?? "?",
  });
  beep();
  notify(text, reasonText(conversation.escalation_reason), `handoff-sla-${conversation.id}-${data.kind}`, () =>
    openConversation(conversation.id),
  );
  toast(text, "warning");
}

/** A customer of mine (or of my team's queue) is about to lose their WhatsApp window
 * unanswered, and no re-engagement campaign is set: a sound, a notification, a toast. */
function announceWindowClosing(conversation) {
  const contact = conversation.contact || {};
  const who = contact.name || contact.phone_number || `#${conversation.id}`;
  const text = fmt(gettext("%(who)s's WhatsApp window closes soon with no reply: answer now, or only a template can reach them."), { who });
  beep();
  notify(text, reasonText(conversation.escalation_reason), `handoff-window-${conversation.id}`, () =>
    openConversation(conversation.id),
  );
  toast(text, "warning");
}

/** handoff gave me a chat: a sound, a notification and a toast that opens it. */
function announceAssigned(conversation) {
  const contact = conversation.contact || {};
  const who = contact.name || contact.phone_number || `#${conversation.id}`;
  beep();
  notify(
    fmt(gettext("Assigned to you: %(who)s"), { who }),
    reasonText(conversation.escalation_reason),
    `handoff-assigned-${conversation.id}`,
    () => {
      selectQueue("mine");
      openConversation(conversation.id);
    },
  );
  if (state.openId !== conversation.id) {
    toast(fmt(gettext("handoff assigned you a conversation with %(who)s."), { who }));
  }
}

// How long a chat must stay waiting before the alert sounds: one that handoff assigns
// at once (in the same push, or a moment later) is not worth a sound for everyone.
const WAITING_ALERT_DELAY_MS = 1500;

function announceWaiting(conversation) {
  setTimeout(() => {
    const now = state.convs.get(conversation.id);
    if (now && now.state === "waiting" && inMyQueues(now)) alertWaiting(now);
  }, WAITING_ALERT_DELAY_MS);
}

function alertWaiting(conversation) {
  const contact = conversation.contact || {};
  const who = contact.name || contact.phone_number || "";
  beep();
  notify(
    fmt(gettext("%(who)s is waiting"), { who }),
    reasonText(conversation.escalation_reason),
    `handoff-waiting-${conversation.id}`,
    () => {
      selectQueue("waiting");
      openConversation(conversation.id);
    },
  );
}

/** A note that names me: a sound, a notification, and a mark on its row until I open it. */
function announceMention(note) {
  const summary = state.convs.get(note.conversation_id);
  const open = state.openId === note.conversation_id && !document.hidden;
  if (summary && !open) {
    summary.mentioned = true;
    renderList();
  }
  beep();
  notify(
    fmt(gettext("%(who)s mentioned you in a note"), { who: note.author }),
    note.text.slice(0, 200),
    `handoff-note-${note.id}`,
    () => openConversation(note.conversation_id),
  );
  if (!open) {
    const contact = (summary && summary.contact) || {};
    toast(
      fmt(gettext("%(who)s mentioned you in a note on %(where)s."), {
        who: note.author,
        where: contact.name || contact.phone_number || `#${note.conversation_id}`,
      }),
    );
  }
}

/** One numbered event from the socket, applied once (socket.js drops repeats). */
export function applyEvent(frame) {
  switch (frame.type) {
    case "conversation.updated":
      applyConversation(frame.conversation, frame.event);
      break;
    case "message.created": {
      const message = frame.message;
      const summary = state.convs.get(message.conversation_id);
      const open = state.openId === message.conversation_id;
      if (summary) {
        // System texts (the hand-over notice) are not previews: see docs/api.md.
        if (message.author_kind !== "system") summary.last_message = {
          id: message.id,
          author_kind: message.author_kind,
          author: message.author,
          text: message.text.slice(0, 200),
          created_at: message.created_at,
        };
        if (message.author_kind === "customer") {
          summary.last_message_at = message.created_at;
          if (!open || document.hidden) summary.unread = true;
        }
        placeInList(summary);
        renderList();
      } else if (!state.q) {
        reloadListSoon();
      }
      if (open) {
        applyToOpen(frame);
        if (message.author_kind === "customer") markRead();
      }
      break;
    }
    case "message.delivery":
      applyToOpen(frame);
      break;
    case "note.created":
      applyToOpen(frame);
      if (frame.note.author !== ME && (frame.note.mentions || []).includes(ME)) {
        announceMention(frame.note);
      }
      break;
    case "conversation.erased":
      dropConversations(frame.conversation_ids || [], frame.reason);
      break;
    case "presence":
      applyPresence(frame);
      applyMyPresence(frame);
      break;
    default:
      break;
  }
}

/** Conversations erased on request or past the retention (the event holds only their
 * ids): they leave the list, and an open one closes with everything shown of it. */
function dropConversations(ids, reason) {
  const gone = new Set(ids);
  forgetConversations(gone);
  renderList();
  refreshCounts();
  if (state.openId !== null && gone.has(state.openId)) {
    closeConversation();
    toast(
      reason === "retention"
        ? gettext("The open conversation was removed: it was older than the retention period.")
        : gettext("The open conversation was erased at the customer's request."),
    );
  } else if (state.detail && state.detail.earlier.some((c) => gone.has(c.id))) {
    state.detail.earlier = state.detail.earlier.filter((c) => !gone.has(c.id));
    renderContact();
  }
}
