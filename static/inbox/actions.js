// The conversation actions (claim, take over, transfer, release, resolve) asked of
// the API for the open conversation, and the transfer dialog's choice of agent (each
// shown with their status and load).
// Never apply the answer by hand: it goes through live.js like any event.
import { api } from "./api.js";
import { applyConversation } from "./live.js";
import { statusLine } from "./presence.js";
import { allowedActions } from "./rules.js";
import { state } from "./state.js";
import { reportError, toast } from "./toasts.js";
import { $, el, fmt } from "./util.js";

const { gettext } = window;

export async function act(action) {
  if (state.opening) await state.opening;
  const detail = state.detail;
  if (!detail || !allowedActions(detail.conversation)[action]) return;
  const id = detail.conversation.id;
  let body;
  if (action === "transfer") {
    const to = await chooseAgent();
    if (!to) return;
    body = { to };
  }
  try {
    const data = await api("POST", `/api/conversations/${id}/${action}/`, body);
    if (data && data.conversation) applyConversation(data.conversation, null);
    if (action === "claim" || action === "take-over") $("reply").focus();
  } catch (error) {
    reportError(error);
  }
}

function chooseAgent() {
  const dialog = $("transfer-dialog");
  const select = $("transfer-to");
  const { assignee: current, team } = state.detail.conversation;
  const choices = [...state.agents.values()]
    .filter((a) => a.username !== current)
    .sort((a, b) => a.username.localeCompare(b.username));
  if (!choices.length) {
    toast(gettext("There is no other agent to transfer to."));
    return Promise.resolve(null);
  }
  const option = (a) => {
    const teams = (a.teams || []).length ? ` · ${a.teams.join(", ")}` : "";
    return el("option", { value: a.username }, statusLine(a, a.display_name || a.username) + teams);
  };
  // A conversation of a team: its members first, where the chat belongs.
  const members = team ? choices.filter((a) => (a.teams || []).includes(team)) : [];
  const others = choices.filter((a) => !members.includes(a));
  select.replaceChildren(
    ...(members.length
      ? [
          el("optgroup", { label: fmt(gettext("Team %(team)s"), { team }) }, ...members.map(option)),
          el("optgroup", { label: gettext("Other agents") }, ...others.map(option)),
        ].filter((group) => group.children.length)
      : choices.map(option)),
  );
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => resolve(dialog.returnValue === "ok" && select.value ? select.value : null),
      { once: true },
    );
    dialog.returnValue = "";
    dialog.showModal();
    select.focus();
  });
}
