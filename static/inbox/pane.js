// The conversation pane: opening and closing a conversation, its header, action
// buttons and contact card, and applying a live change to what is open. Never
// change a conversation here (actions.js, composer.js, campaigns.js do, through the
// API); the only requests are loading the conversation and marking it read, and the
// only frame is telling the socket which one is open.
import { api } from "./api.js";
import { renderComposerState, updateCounter } from "./composer.js";
import { socket } from "./connection.js";
import { renderList } from "./list.js";
import { renderActivity } from "./presence.js";
import { allowedActions, closedUntil, windowLeft } from "./rules.js";
import { renderSlaChip } from "./sla.js";
import { rememberSummary, state } from "./state.js";
import { eventNode, outsideHoursText, reasonText, stateText } from "./thread.js";
import { reportError } from "./toasts.js";
import {
  appendToTranscript,
  nearEnd,
  renderTranscript,
  scrollToEnd,
  upsertMessage,
  upsertNote,
} from "./transcript.js";
import { $, duration, el, fmt, when } from "./util.js";

const { gettext } = window;

/** Open a conversation; actions asked for while it loads wait for it (state.opening). */
export function openConversation(id, options = {}) {
  const opening = loadConversation(id, options);
  state.opening = opening;
  const done = () => {
    if (state.opening === opening) state.opening = null;
  };
  opening.then(done, done);
  return opening;
}

async function loadConversation(id, { quiet = false } = {}) {
  const changed = state.openId !== id;
  state.openId = id;
  if (changed) {
    window.history.replaceState(null, "", `#c${id}`);
    socket.send({ type: "viewing", conversation_id: id });
    renderList();
  }
  // Socket events for this conversation that arrive while it loads are kept and
  // applied again on top of the answer, which may have been read before them.
  const held = [];
  state.holding = { id, frames: held };
  let data;
  try {
    data = await api("GET", `/api/conversations/${id}/`);
  } catch (error) {
    if (!quiet) reportError(error);
    return;
  } finally {
    if (state.holding && state.holding.frames === held) state.holding = null;
  }
  if (state.openId !== id) return;
  state.detail = {
    conversation: data.conversation,
    contact: data.contact,
    messages: new Map((data.messages || []).map((m) => [m.id, m])),
    events: data.events || [],
    notes: data.notes || [],
    earlier: data.earlier_conversations || [],
    hasEarlier: data.has_earlier_messages,
  };
  rememberSummary(data.conversation);
  renderThread({ keepComposer: !changed });
  for (const frame of held) applyToOpen(frame);
  markRead();
}

export function markRead() {
  const detail = state.detail;
  if (!detail || document.hidden) return;
  const summary = state.convs.get(detail.conversation.id);
  if (summary && (summary.unread || summary.mentioned)) {
    summary.unread = false;
    summary.mentioned = false; // seen: the note that mentioned me is in the transcript
    renderList();
  }
  const ids = [...detail.messages.keys()];
  const latest = ids.length ? Math.max(...ids) : null;
  if (latest === null || detail.readTo === latest) return;
  detail.readTo = latest;
  api("POST", `/api/conversations/${detail.conversation.id}/read/`, { message_id: latest }).catch(
    () => {},
  );
}

function renderThread({ keepComposer = false } = {}) {
  $("thread-empty").hidden = true;
  $("thread").hidden = false;
  $("contact-pane").hidden = false;
  if (!keepComposer) {
    $("reply").value = "";
    updateCounter();
  }
  renderHeader();
  renderTranscript();
  renderContact();
  renderActivity();
  scrollToEnd(true);
}

function renderHeader() {
  const { conversation, contact } = state.detail;
  $("thread-name").textContent = contact.name || contact.phone_number;
  $("thread-phone").textContent = contact.name ? contact.phone_number : "";
  const badge = $("thread-state");
  badge.className = `state-badge state-${conversation.state}`;
  badge.textContent =
    conversation.state === "assigned" && conversation.assignee
      ? fmt(gettext("Assigned to %(who)s"), { who: conversation.assignee })
      : stateText(conversation.state);
  const label = $("label-chip");
  label.hidden = !conversation.queue_label;
  label.textContent = conversation.queue_label || "";
  label.title = conversation.topic
    ? fmt(gettext("Queue label (topic %(topic)s)"), { topic: conversation.topic })
    : gettext("Queue label");
  if (conversation.satisfaction_score) badge.textContent += ` · ${fmt(gettext("satisfaction %(score)s/5"), { score: conversation.satisfaction_score })}`;
  const closed = closedUntil(state.detail);
  const hours = $("hours-chip");
  hours.hidden = !closed;
  hours.textContent = closed ? outsideHoursText(closed.opensAt) : "";
  const open = ["waiting", "assigned"].includes(conversation.state);
  renderSlaChip($("sla-chip"), open ? conversation.sla : null);
  const chip = $("reason-chip");
  chip.hidden = !conversation.escalation_reason;
  chip.textContent = conversation.escalation_reason
    ? fmt(gettext("Handed over: %(reason)s"), { reason: reasonText(conversation.escalation_reason) })
    : "";
  renderActions();
  renderComposerState();
}

function renderActions() {
  const allowed = allowedActions(state.detail.conversation);
  for (const button of document.querySelectorAll("#actions [data-action]")) {
    button.hidden = !allowed[button.dataset.action];
  }
}

export function renderContact() {
  const { contact, earlier } = state.detail;
  $("contact-phone").textContent = contact.phone_number || "";
  $("contact-external").textContent = contact.external_id || "";
  $("contact-first-seen").textContent = when(contact.first_seen_at);
  renderWindow();
  const list = $("earlier");
  list.replaceChildren(
    ...(earlier.length
      ? earlier.map((c) =>
          el(
            "li",
            {},
            el(
              "button",
              { type: "button", class: "link", onclick: () => openConversation(c.id) },
              `#${c.id} · ${stateText(c.state)} · ${when(c.created_at)}`,
            ),
            c.escalation_reason
              ? el("span", { class: "muted", text: ` ${reasonText(c.escalation_reason)}` })
              : null,
          ),
        )
      : [el("li", { class: "muted", text: gettext("None") })]),
  );
}

export function renderWindow() {
  const left = windowLeft();
  const node = $("contact-window");
  if (left === null) {
    node.textContent = gettext("not open (the customer has not written)");
    node.className = "window-closed";
  } else if (left <= 0) {
    node.textContent = gettext("closed");
    node.className = "window-closed";
  } else {
    node.textContent = fmt(gettext("%(left)s left"), { left: duration(left) });
    node.className = left < 3600 ? "window-soon" : "";
  }
}

/** Back to "pick a conversation", leaving nothing of the last one in the page. */
export function closeConversation() {
  state.openId = null;
  state.detail = null;
  window.history.replaceState(null, "", window.location.pathname + window.location.search);
  socket.send({ type: "viewing", conversation_id: null });
  for (const id of ["campaign-dialog", "transfer-dialog"]) {
    if ($(id).open) $(id).close();
  }
  for (const id of ["thread-name", "thread-phone", "contact-phone", "contact-external"]) {
    $(id).textContent = "";
  }
  $("transcript").replaceChildren();
  $("earlier").replaceChildren();
  $("reply").value = "";
  updateCounter();
  $("thread").hidden = true;
  $("contact-pane").hidden = true;
  $("thread-empty").hidden = false;
  renderActivity();
}

/** The part of an event that changes the open transcript (also replayed after a load). */
export function applyToOpen(frame) {
  const about = frame.message || frame.note || frame.conversation || {};
  const id = frame.conversation_id ?? about.conversation_id;
  const conversationId = frame.type === "conversation.updated" ? frame.conversation.id : id;
  if (state.holding && state.holding.id === conversationId) state.holding.frames.push(frame);
  const detail = state.detail;
  if (!detail || detail.conversation.id !== conversationId) return;
  if (frame.type === "message.created") upsertMessage(frame.message);
  else if (frame.type === "note.created") upsertNote(frame.note);
  else if (frame.type === "message.delivery") {
    const message = detail.messages.get(frame.message_id);
    if (message) upsertMessage({ ...message, delivery: frame.delivery });
  } else if (frame.type === "conversation.updated") {
    detail.conversation = { ...detail.conversation, ...frame.conversation };
    const event = frame.event;
    if (event && !detail.events.some((e) => e.id === event.id)) {
      detail.events.push(event);
      if (event.kind === "escalated" || event.kind === "taken_over") {
        // The hand-over happened while the agent watched: split the transcript
        // now, leaving the bot's part open where they were reading it.
        const stick = nearEnd();
        renderTranscript({ botOpen: true });
        if (stick) scrollToEnd(true);
      } else {
        appendToTranscript(eventNode(event));
      }
    }
    renderHeader();
  }
}
