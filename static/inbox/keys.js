// The inbox's keyboard shortcuts (the help dialog lists them). Keys only map to what
// the other modules do; never put an action's own logic here.
import { act } from "./actions.js";
import { openCampaignDialog } from "./campaigns.js";
import { setComposeMode } from "./composer.js";
import { QUEUES, moveSelection, selectQueue } from "./list.js";
import { allowedActions, campaignBlocked } from "./rules.js";
import { state } from "./state.js";
import { toggleStatus } from "./status.js";
import { toast } from "./toasts.js";
import { $ } from "./util.js";

const { gettext } = window;

function typingInField(target) {
  return target.closest && target.closest("input, textarea, select, [contenteditable]");
}

// Resolving sends the customer the closing text, so one stray key must not do it:
// "e" asks, a second "e" within 3 s resolves.
let resolveArmedUntil = 0;
function resolveByKey() {
  if (!state.detail || !allowedActions(state.detail.conversation).resolve) return;
  if (Date.now() < resolveArmedUntil) {
    resolveArmedUntil = 0;
    act("resolve");
    return;
  }
  resolveArmedUntil = Date.now() + 3000;
  toast(gettext("Press e again to resolve this conversation."));
}

/** The document's keydown: a shortcut unless a field or a dialog has the keys. */
export function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (document.querySelector("dialog[open]")) return;
  if (typingInField(event.target)) {
    if (event.key === "Escape") event.target.blur();
    return;
  }
  const actions = { c: "claim", o: "take-over", m: "transfer", u: "release" };
  if (event.key === "j" || event.key === "ArrowDown") moveSelection(1);
  else if (event.key === "k" || event.key === "ArrowUp") moveSelection(-1);
  else if (event.key >= "1" && event.key <= "5") selectQueue(QUEUES[Number(event.key) - 1]);
  else if (event.key === "?") $("help-dialog").showModal();
  else if (event.key === "r" && state.detail) setComposeMode("reply", { focus: true });
  else if (event.key === "n" && state.detail) setComposeMode("note", { focus: true });
  else if (event.key === "t" && !campaignBlocked()) openCampaignDialog();
  else if (event.key === "s") $("search").focus();
  else if (event.key === "l" && !$("label-filter").hidden) $("label-filter").focus();
  else if (event.key === "e") resolveByKey();
  else if (event.key === "a") toggleStatus();
  else if (actions[event.key]) act(actions[event.key]);
  else return;
  event.preventDefault();
}
