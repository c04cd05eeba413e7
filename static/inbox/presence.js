// Who else is here: the agents (for transfers), who is online, and who is viewing or
// typing in the open conversation. Never change a conversation here; this only
// draws people.
import { api } from "./api.js";
import { ME, state } from "./state.js";
import { reportError } from "./toasts.js";
import { $, el, fmt } from "./util.js";

const { gettext } = window;
const TYPING_SHOWN_MS = 6000;

export async function loadAgents() {
  try {
    const data = await api("GET", "/api/agents/");
    state.agents = data.agents || [];
    for (const agent of state.agents) {
      if (agent.online) state.online.add(agent.username);
    }
    renderPresence();
  } catch (error) {
    reportError(error);
  }
}

/** The socket's notices (not numbered, not replayed): another agent viewing or typing. */
export function applyNotice(frame) {
  if (frame.type !== "activity" || frame.agent === ME) return;
  if (frame.activity === "left") state.activity.delete(frame.agent);
  else {
    state.activity.set(frame.agent, {
      conversationId: frame.conversation_id,
      activity: frame.activity,
      at: Date.now(),
    });
  }
  renderActivity();
}

export function renderActivity() {
  const node = $("activity");
  if (!state.openId) {
    node.textContent = "";
    return;
  }
  const now = Date.now();
  const typing = [];
  const viewing = [];
  for (const [agent, seen] of state.activity) {
    if (seen.conversationId !== state.openId) continue;
    if (seen.activity === "typing" && now - seen.at < TYPING_SHOWN_MS) typing.push(agent);
    else viewing.push(agent);
  }
  const parts = [];
  if (typing.length) parts.push(fmt(gettext("%(who)s is typing…"), { who: typing.join(", ") }));
  if (viewing.length) parts.push(fmt(gettext("%(who)s is viewing"), { who: viewing.join(", ") }));
  node.textContent = parts.join(" · ");
  node.hidden = parts.length === 0;
}

export function renderPresence() {
  const list = $("presence");
  const names = [...state.online].sort();
  list.replaceChildren(
    ...names.map((name) =>
      el("li", { class: name === ME ? "me-dot" : "", title: gettext("online") }, name),
    ),
  );
}
