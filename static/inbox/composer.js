// The reply box: whether it is open, the character count, sending a reply or a private
// note (its two modes), and telling the other agents that this one is typing. Never
// decide here whether a reply is allowed (rules.js), and never draw the rest of the pane.
import { api } from "./api.js";
import { socket } from "./connection.js";
import { campaignBlocked, composerBlock } from "./rules.js";
import { MAX_CHARS, state } from "./state.js";
import { reportError, toast } from "./toasts.js";
import { upsertMessage, upsertNote } from "./transcript.js";
import { $, charCount, fmt } from "./util.js";

const { gettext, ngettext } = window;

const TYPING_EVERY_MS = 2000;
let lastTypingSent = 0;

export function renderComposerState() {
  const noting = state.composeMode === "note";
  const { disabled, reason } = composerBlock();
  const reply = $("reply");
  reply.disabled = disabled;
  const composer = $("composer");
  composer.classList.toggle("blocked", disabled);
  composer.classList.toggle("note-mode", noting);
  for (const tab of document.querySelectorAll("#compose-modes [data-mode]")) {
    tab.setAttribute("aria-selected", tab.dataset.mode === state.composeMode ? "true" : "false");
  }
  // The words for each mode come translated with the page (templates/inbox/inbox.html).
  const mode = noting ? "note" : "reply";
  reply.placeholder = reply.dataset[`${mode}Placeholder`];
  reply.setAttribute("aria-label", reply.dataset[`${mode}Label`]);
  $("send").textContent = $("send").dataset[`${mode}Label`];
  const note = $("composer-reason");
  note.hidden = !reason;
  note.textContent = reason;
  note.classList.toggle("warning", disabled);
  $("send-campaign").hidden = noting;
  $("send-campaign").disabled = campaignBlocked();
  updateCounter();
}

/** Switch between writing to the customer and writing a private note ("r" and "n"). */
export function setComposeMode(mode, { focus = false } = {}) {
  if (mode !== "reply" && mode !== "note") return;
  state.composeMode = mode;
  renderComposerState();
  if (focus && state.detail && !$("reply").disabled) $("reply").focus();
}

export function updateCounter() {
  const count = charCount($("reply").value);
  const counter = $("char-count");
  counter.textContent = `${count} / ${MAX_CHARS}`;
  counter.classList.toggle("over", count > MAX_CHARS);
  $("send").disabled = $("reply").disabled || count === 0 || count > MAX_CHARS || state.sending;
}

/** Enter, or the Send button: a reply or a note, whichever mode the box is in. */
export function send() {
  return state.composeMode === "note" ? sendNote() : sendReply();
}

async function submit(path, take) {
  const reply = $("reply");
  const text = reply.value;
  if (!state.detail || reply.disabled || state.sending) return;
  if (!text.trim() || charCount(text) > MAX_CHARS) return;
  const id = state.detail.conversation.id;
  state.sending = true;
  updateCounter();
  try {
    const data = await api("POST", `/api/conversations/${id}/${path}`, { text });
    if (state.openId === id && reply.value === text) reply.value = "";
    if (data) take(data);
  } catch (error) {
    reportError(error);
  } finally {
    state.sending = false;
    updateCounter();
  }
}

export function sendReply() {
  return submit("reply/", (data) => data.message && upsertMessage(data.message, { fromApi: true }));
}

function sendNote() {
  return submit("notes/", (data) => {
    if (data.note) upsertNote(data.note);
    const unresolved = data.unresolved_mentions || [];
    if (unresolved.length) {
      const names = unresolved.map((name) => `@${name}`).join(", ");
      toast(
        fmt(
          ngettext(
            "The note was added, but nobody was notified for %(names)s: no agent has that name.",
            "The note was added, but nobody was notified for %(names)s: no agent has these names.",
            unresolved.length,
          ),
          { names },
        ),
        "warning",
      );
    }
  });
}

export function sendTyping() {
  const now = Date.now();
  // "Typing" tells the other agents a reply is on its way; a note is not one.
  if (!state.openId || state.composeMode === "note" || now - lastTypingSent < TYPING_EVERY_MS) {
    return;
  }
  lastTypingSent = now;
  socket.send({ type: "typing", conversation_id: state.openId });
}
