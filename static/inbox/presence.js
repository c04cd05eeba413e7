// Who else is here: the agents (for transfers) with their status (available, away,
// offline) and load, and who is viewing or typing in the open conversation. Never
// change a conversation or an agent's status here; this only draws people.
import { api } from "./api.js";
import { ME, state } from "./state.js";
import { reportError } from "./toasts.js";
import { $, el, fmt } from "./util.js";

const { gettext } = window;
const TYPING_SHOWN_MS = 6000;

// Presence events that arrive while the roster loads: the answer may predate them,
// so they are applied again on top of it.
let arrivedWhileLoading = null;

export async function loadAgents() {
  const arrived = [];
  arrivedWhileLoading = arrived;
  try {
    const data = await api("GET", "/api/agents/");
    state.agents = new Map((data.agents || []).map((agent) => [agent.username, agent]));
    for (const frame of arrived) remember(frame);
    renderPresence();
  } catch (error) {
    reportError(error);
  } finally {
    if (arrivedWhileLoading === arrived) arrivedWhileLoading = null;
  }
}

/** A `presence` event: everything about one agent, replacing what was known. */
export function applyPresence(frame) {
  if (arrivedWhileLoading) arrivedWhileLoading.push(frame);
  remember(frame);
  renderPresence();
}

function remember(frame) {
  const { agent, online, status, capacity, open_count } = frame;
  const known = state.agents.get(agent);
  if (!known && !online) return; // an agent never seen (or deleted) going offline
  const names = known || { username: agent, display_name: agent };
  state.agents.set(agent, { ...names, online, status, capacity, open_count });
}

const STATUS_NAMES = {
  available: () => gettext("available"),
  away: () => gettext("away"),
  offline: () => gettext("offline"),
};

/** "ben · away · 2/4": an agent's status and load, for the header and the transfer list. */
export function statusLine(agent, name = agent.username) {
  const status = (STATUS_NAMES[agent.status] || STATUS_NAMES.offline)();
  return fmt(gettext("%(name)s · %(status)s · %(open)s/%(capacity)s"), {
    name,
    status,
    open: agent.open_count,
    capacity: agent.capacity,
  });
}

export function renderPresence() {
  const online = [...state.agents.values()]
    .filter((agent) => agent.online)
    .sort((a, b) => a.username.localeCompare(b.username));
  $("presence").replaceChildren(
    ...online.map((agent) =>
      el(
        "li",
        { class: agent.username === ME ? "me-dot" : "", dataset: { status: agent.status } },
        statusLine(agent),
      ),
    ),
  );
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
