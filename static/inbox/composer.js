// The reply box: whether it is open, the character count, sending a reply, and
// telling the other agents that this one is typing. Never decide here whether a
// reply is allowed (rules.js), and never draw the rest of the pane.
import { api } from "./api.js";
import { socket } from "./connection.js";
import { campaignBlocked, composerBlock } from "./rules.js";
import { MAX_CHARS, state } from "./state.js";
import { reportError } from "./toasts.js";
import { upsertMessage } from "./transcript.js";
import { $, charCount } from "./util.js";

const TYPING_EVERY_MS = 2000;
let lastTypingSent = 0;

export function renderComposerState() {
  const { disabled, reason } = composerBlock();
  const reply = $("reply");
  reply.disabled = disabled;
  $("composer").classList.toggle("blocked", disabled);
  const note = $("composer-reason");
  note.hidden = !reason;
  note.textContent = reason;
  note.classList.toggle("warning", disabled);
  $("send-campaign").disabled = campaignBlocked();
  updateCounter();
}

export function updateCounter() {
  const count = charCount($("reply").value);
  const counter = $("char-count");
  counter.textContent = `${count} / ${MAX_CHARS}`;
  counter.classList.toggle("over", count > MAX_CHARS);
  $("send").disabled = $("reply").disabled || count === 0 || count > MAX_CHARS || state.sending;
}

export async function sendReply() {
  const reply = $("reply");
  const text = reply.value;
  if (!state.detail || reply.disabled || state.sending) return;
  if (!text.trim() || charCount(text) > MAX_CHARS) return;
  const id = state.detail.conversation.id;
  state.sending = true;
  updateCounter();
  try {
    const data = await api("POST", `/api/conversations/${id}/reply/`, { text });
    if (state.openId === id && reply.value === text) reply.value = "";
    if (data && data.message) upsertMessage(data.message, { fromApi: true });
  } catch (error) {
    reportError(error);
  } finally {
    state.sending = false;
    updateCounter();
  }
}

export function sendTyping() {
  const now = Date.now();
  if (!state.openId || now - lastTypingSent < TYPING_EVERY_MS) return;
  lastTypingSent = now;
  socket.send({ type: "typing", conversation_id: state.openId });
}
