// The open conversation's transcript in the page: drawn from state.detail with
// thread.js's nodes, split into the bot's part and the people's, kept scrolled to
// the end while the agent reads there. Never change a conversation's state here;
// the only request is retrying a failed message.
import { api } from "./api.js";
import { ME, state } from "./state.js";
import { eventNode, messageNode, noteNode, splitIndex, timeline } from "./thread.js";
import { reportError } from "./toasts.js";
import { $, el, fmt } from "./util.js";

const { gettext, ngettext } = window;

function retryMessage(messageId) {
  api("POST", `/api/messages/${messageId}/retry/`)
    .then((data) => data && data.message && upsertMessage(data.message, { fromApi: true }))
    .catch(reportError);
}

export function renderTranscript({ botOpen = false } = {}) {
  const { messages, events, notes, contact } = state.detail;
  const items = timeline([...messages.values()], events, notes);
  const nodes = items.map((item) => {
    if (item.message) return messageNode(item.message, contact.name, retryMessage);
    return item.note ? noteNode(item.note, ME) : eventNode(item.event);
  });
  const transcript = $("transcript");
  const split = splitIndex(items);
  const earlierNote = state.detail.hasEarlier
    ? el("p", { class: "muted center", text: gettext("Only the last 500 messages are shown.") })
    : null;
  if (split === null || split === 0) {
    const human = el("div", { class: "human-part", id: "human-part" }, nodes);
    transcript.replaceChildren(...[earlierNote, human].filter(Boolean));
    return;
  }
  const botMessages = items.slice(0, split).filter((item) => item.message).length;
  const botNotes = items.slice(0, split).filter((item) => item.note).length;
  let summary = fmt(
    ngettext("Bot conversation (%(n)s message)", "Bot conversation (%(n)s messages)", botMessages),
    { n: botMessages },
  );
  if (botNotes) {
    summary += ` · ${fmt(ngettext("%(n)s private note", "%(n)s private notes", botNotes), { n: botNotes })}`;
  }
  const botPart = el(
    "details",
    { class: "bot-part", open: botOpen },
    el("summary", { text: summary }),
    el("div", { class: "bot-items" }, nodes.slice(0, split)),
  );
  const human = el("div", { class: "human-part", id: "human-part" }, nodes.slice(split));
  transcript.replaceChildren(...[earlierNote, botPart, human].filter(Boolean));
}

export function nearEnd() {
  const t = $("transcript");
  return t.scrollHeight - t.scrollTop - t.clientHeight < 80;
}

export function scrollToEnd(force) {
  const t = $("transcript");
  if (force || nearEnd()) t.scrollTop = t.scrollHeight;
}

export function appendToTranscript(node) {
  const stick = nearEnd();
  $("human-part").append(node);
  if (stick) scrollToEnd(true);
}

/**
 * Add or update a message in the open transcript. An answer to our own POST may be
 * older than the socket's delivery events for the same message (the stand-in or
 * Braze can answer before our response arrives), so it never overwrites them.
 */
export function upsertMessage(message, { fromApi = false } = {}) {
  const detail = state.detail;
  if (!detail || detail.conversation.id !== message.conversation_id) return;
  const known = detail.messages.has(message.id);
  const previous = detail.messages.get(message.id);
  const merged = { ...previous, ...message };
  if (fromApi && previous) merged.delivery = previous.delivery;
  detail.messages.set(message.id, merged);
  const existing = document.querySelector(`[data-message-id="${message.id}"]`);
  if (existing) {
    existing.replaceWith(messageNode(detail.messages.get(message.id), detail.contact.name, retryMessage));
  } else if (!known) {
    appendToTranscript(messageNode(message, detail.contact.name, retryMessage));
  }
}

/** Add a note to the open transcript once (the API's answer and the socket's event both
 * bring the author's own). */
export function upsertNote(note) {
  const detail = state.detail;
  if (!detail || detail.conversation.id !== note.conversation_id) return;
  if (detail.notes.some((known) => known.id === note.id)) return;
  detail.notes.push(note);
  appendToTranscript(noteNode(note, ME));
}
