// Canned replies in the reply box: "/" and a shortcut at the start of a word opens
// the picker (not while writing a private note); a choice inserts its text, or opens
// the campaign dialog for a reply that is sent as a campaign. Also the reply box's
// keys, since the open picker takes them first. Never send anything here: Enter hands
// over to composer.js.
import { api } from "./api.js";
import { openCampaignDialog } from "./campaigns.js";
import { send, updateCounter } from "./composer.js";
import { state } from "./state.js";
import { reportError } from "./toasts.js";
import { $, el } from "./util.js";

const canned = { open: false, matches: [], index: 0, start: 0 };

export async function loadCanned() {
  try {
    state.canned = (await api("GET", "/api/canned-replies/")).canned_replies || [];
  } catch (error) {
    reportError(error);
  }
}

function cannedToken() {
  const reply = $("reply");
  const before = reply.value.slice(0, reply.selectionStart);
  const match = /(^|\s)\/([\w-]*)$/.exec(before);
  if (!match) return null;
  return { query: match[2].toLowerCase(), start: before.length - match[2].length - 1 };
}

/** Open, filter or close the picker after the reply box changed. */
export function updateCanned() {
  // Not in a private note: canned replies are words for the customer.
  const token = state.composeMode === "note" ? null : cannedToken();
  const box = $("canned");
  if (!token || !state.canned.length) {
    closeCanned();
    return;
  }
  canned.matches = state.canned.filter(
    (c) => c.shortcut.toLowerCase().startsWith(token.query) || c.title.toLowerCase().includes(token.query),
  );
  canned.start = token.start;
  canned.index = Math.min(canned.index, Math.max(0, canned.matches.length - 1));
  canned.open = canned.matches.length > 0;
  box.hidden = !canned.open;
  box.replaceChildren(
    ...canned.matches.map((c, i) =>
      el(
        "li",
        {
          role: "option",
          class: i === canned.index ? "active" : "",
          "aria-selected": i === canned.index ? "true" : "false",
          onmousedown: (event) => {
            event.preventDefault();
            canned.index = i;
            insertCanned();
          },
        },
        el("strong", { text: `/${c.shortcut}` }),
        " ",
        el("span", { text: c.title }),
        el("div", { class: "muted canned-text", text: c.text }),
      ),
    ),
  );
}

export function closeCanned() {
  canned.open = false;
  $("canned").hidden = true;
}

function insertCanned() {
  const choice = canned.matches[canned.index];
  if (!choice) return;
  const reply = $("reply");
  const end = reply.selectionStart;
  if (choice.campaign) {
    // Sent through its Braze campaign, not as text: take out the "/shortcut" typed.
    reply.value = reply.value.slice(0, canned.start) + reply.value.slice(end);
    closeCanned();
    updateCounter();
    openCampaignDialog(choice.campaign.key, choice.campaign.properties || {});
    return;
  }
  reply.value = reply.value.slice(0, canned.start) + choice.text + reply.value.slice(end);
  const caret = canned.start + choice.text.length;
  reply.setSelectionRange(caret, caret);
  closeCanned();
  updateCounter();
}

/** Keys in the reply box: the picker's first, then Enter sends and Escape leaves. */
export function onComposerKey(event) {
  if (canned.open) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      canned.index = (canned.index + step + canned.matches.length) % canned.matches.length;
      updateCanned();
      return;
    }
    if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      insertCanned();
      return;
    }
    if (event.key === "Escape") {
      event.preventDefault();
      closeCanned();
      return;
    }
  }
  // Enter sends; Shift+Enter is a new line; Enter that confirms an IME (Japanese
  // input) conversion is neither.
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
    event.preventDefault();
    send();
    return;
  }
  if (event.key === "Escape") $("reply").blur();
}
