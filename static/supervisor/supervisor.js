// The live supervisor view: the desk's snapshot from /api/supervisor/, then kept
// current from the inbox socket's events (docs/websocket.md) without reloading or
// polling. The socket is the inbox's own (../inbox/socket.js): it resumes after the
// snapshot's number, so nothing committed in between is missed, and applies each
// event once. Every customer- or agent-written text is inserted as text.
import { InboxSocket } from "../inbox/socket.js";

const { gettext } = window;
const OPEN_STATES = new Set(["waiting", "assigned"]);
const TYPING_SHOWN_MS = 6000; // the inbox sends `typing` at most every 2 s
const BOT_LIVE_MS = 15 * 60 * 1000; // as the snapshot counts them (selectors/supervision.py)

const state = {
  convs: new Map(), // open conversations by id: waiting or assigned
  bot: new Map(), // live bot conversations by id (the newest the snapshot named, and new ones)
  botUnlisted: 0, // live bot conversations the snapshot counted but did not list
  agents: new Map(), // by username: the presence frame's fields and `since` (ms)
  typing: new Map(), // username -> {conversationId, at}
  offset: 0, // the server's clock minus ours, from the snapshot
};

function fmt(text, values) {
  return text.replace(/%\((\w+)\)s/g, (_, key) => String(values[key] ?? ""));
}

function now() {
  return Date.now() + state.offset;
}

function clock(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${seconds}` : `${minutes}:${seconds}`;
}

function since(ms) {
  const minutes = Math.floor(Math.max(0, ms) / 60000);
  if (minutes < 1) return gettext("under a minute");
  if (minutes < 60) return fmt(gettext("%(n)s min"), { n: minutes });
  return fmt(gettext("%(h)s h %(m)s min"), { h: Math.floor(minutes / 60), m: minutes % 60 });
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

/** "#12 Sato": the id agents quote, and the customer's name when the view knows it. */
function conversationName(id) {
  const conversation = state.convs.get(id) || state.bot.get(id);
  const contact = (conversation && conversation.contact) || {};
  const who = contact.name || contact.phone_number;
  return who ? `#${id} ${who}` : `#${id}`;
}

function statusName(status) {
  return { available: gettext("Available"), away: gettext("Away"), offline: gettext("Offline") }[status] || status;
}

// --- The snapshot ---------------------------------------------------------------------

async function loadSnapshot() {
  const answer = await fetch("/api/supervisor/", {
    headers: { Accept: "application/json" },
    credentials: "same-origin",
  });
  if (!answer.ok) throw new Error(`snapshot: HTTP ${answer.status}`);
  const snapshot = await answer.json();
  state.offset = Date.parse(snapshot.now) - Date.now();
  state.convs.clear();
  for (const conversation of snapshot.conversations) state.convs.set(conversation.id, conversation);
  state.bot.clear();
  for (const conversation of snapshot.bot.newest) state.bot.set(conversation.id, conversation);
  state.botUnlisted = Math.max(0, snapshot.bot.live - snapshot.bot.newest.length);
  state.agents.clear();
  for (const agent of snapshot.agents) {
    state.agents.set(agent.agent, { ...agent, since: agent.status_since ? Date.parse(agent.status_since) : null });
  }
  render();
  return snapshot.seq;
}

// --- Events -----------------------------------------------------------------------------

function applyConversation(conversation) {
  if (OPEN_STATES.has(conversation.state)) state.convs.set(conversation.id, conversation);
  else state.convs.delete(conversation.id);
  if (conversation.state === "bot") state.bot.set(conversation.id, conversation);
  else state.bot.delete(conversation.id);
}

function applyPresence(frame) {
  const before = state.agents.get(frame.agent);
  const changed = !before || before.status !== frame.status;
  state.agents.set(frame.agent, {
    agent: frame.agent,
    online: frame.online,
    status: frame.status,
    capacity: frame.capacity,
    open_count: frame.open_count,
    since: changed ? now() : before.since,
  });
}

function applyEvent(frame) {
  switch (frame.type) {
    case "conversation.updated":
      applyConversation(frame.conversation);
      break;
    case "message.created": {
      const known = state.bot.get(frame.message.conversation_id);
      if (known) known.last_message_at = frame.message.created_at;
      break;
    }
    case "presence":
      applyPresence(frame);
      break;
    case "conversation.erased":
      for (const id of frame.conversation_ids) {
        state.convs.delete(id);
        state.bot.delete(id);
      }
      break;
    default:
      return;
  }
  render();
}

function applyNotice(frame) {
  if (frame.type !== "activity") return;
  if (frame.activity === "typing") {
    state.typing.set(frame.agent, { conversationId: frame.conversation_id, at: Date.now() });
  } else if (frame.activity === "left") {
    const typing = state.typing.get(frame.agent);
    if (typing && typing.conversationId === frame.conversation_id) state.typing.delete(frame.agent);
  }
  render();
}

// --- Drawing ----------------------------------------------------------------------------

function queueRows() {
  const groups = new Map();
  for (const conversation of state.convs.values()) {
    const key = JSON.stringify([conversation.team || "", conversation.queue_label || ""]);
    if (!groups.has(key)) {
      groups.set(key, {
        team: conversation.team,
        label: conversation.queue_label,
        waiting: 0,
        oldest: null,
        assigned: 0,
        atRisk: 0,
        breached: 0,
      });
    }
    const group = groups.get(key);
    if (conversation.state === "waiting") {
      group.waiting += 1;
      const started = Date.parse(conversation.waiting_since || conversation.escalated_at);
      if (!Number.isNaN(started) && (group.oldest === null || started < group.oldest)) group.oldest = started;
    } else {
      group.assigned += 1;
    }
    const sla = conversation.sla && conversation.sla.state;
    if (sla === "at_risk") group.atRisk += 1;
    if (sla === "breached") group.breached += 1;
  }
  return [...groups.values()].sort(
    (a, b) => (a.team || "").localeCompare(b.team || "") || (a.label || "").localeCompare(b.label || ""),
  );
}

function renderQueues() {
  const body = document.querySelector("#queues tbody");
  const rows = queueRows();
  body.replaceChildren(
    ...rows.map((group) => {
      const tr = document.createElement("tr");
      tr.dataset.team = group.team || "";
      tr.dataset.label = group.label || "";
      tr.append(
        cell(group.team || gettext("No team")),
        cell(group.label || "—"),
        cell(String(group.waiting), "num waiting"),
        cell(group.oldest === null ? "—" : clock(now() - group.oldest), "num longest"),
        cell(String(group.assigned), "num assigned"),
        cell(String(group.atRisk), group.atRisk ? "num at-risk warn" : "num at-risk"),
        cell(String(group.breached), group.breached ? "num breached bad" : "num breached"),
      );
      return tr;
    }),
  );
  document.getElementById("queues-empty").hidden = rows.length > 0;
}

function renderAgents() {
  const body = document.querySelector("#agents tbody");
  const agents = [...state.agents.values()].sort((a, b) => a.agent.localeCompare(b.agent));
  body.replaceChildren(
    ...agents.map((agent) => {
      const tr = document.createElement("tr");
      tr.dataset.agent = agent.agent;
      const typing = state.typing.get(agent.agent);
      const typingNow = typing && Date.now() - typing.at < TYPING_SHOWN_MS;
      if (typing && !typingNow) state.typing.delete(agent.agent);
      const status = cell(statusName(agent.status), `status status-${agent.status}`);
      tr.append(
        cell(agent.agent),
        status,
        cell(fmt(gettext("%(open)s / %(capacity)s"), { open: agent.open_count, capacity: agent.capacity }), "num load"),
        cell(agent.since ? since(now() - agent.since) : "—", "since"),
        cell(typingNow ? conversationName(typing.conversationId) : "—", "typing-in"),
      );
      return tr;
    }),
  );
}

function renderBot() {
  const cutoff = now() - BOT_LIVE_MS;
  const live = [...state.bot.values()]
    .filter((conversation) => Date.parse(conversation.last_message_at) >= cutoff)
    .sort((a, b) => Date.parse(b.last_message_at) - Date.parse(a.last_message_at));
  document.getElementById("bot-live").textContent = String(live.length + state.botUnlisted);
  document.getElementById("bot-list").replaceChildren(
    ...live.slice(0, 10).map((conversation) => {
      const li = document.createElement("li");
      const contact = conversation.contact || {};
      li.textContent = fmt(gettext("%(who)s · last message %(ago)s ago"), {
        who: contact.name || contact.phone_number || `#${conversation.id}`,
        ago: since(now() - Date.parse(conversation.last_message_at)),
      });
      return li;
    }),
  );
}

function render() {
  renderQueues();
  renderAgents();
  renderBot();
}

// --- Start ------------------------------------------------------------------------------

function showStatus(status) {
  document.getElementById("desk").dataset.connection = status;
  const texts = {
    connecting: gettext("Connecting…"),
    online: gettext("Live"),
    offline: gettext("Offline: reconnecting…"),
    forbidden: gettext("This view is for supervisors."),
    "signed-out": gettext("You were signed out. Reload to sign in again."),
  };
  document.getElementById("desk-status").textContent = texts[status] || status;
}

async function start() {
  const socket = new InboxSocket({
    onHello: () => {},
    onEvent: applyEvent,
    onNotice: applyNotice,
    onResync: () => {
      loadSnapshot().catch(() => socket.drop());
    },
    onStatus: showStatus,
  });
  const seq = await loadSnapshot();
  socket.tracker.start(seq); // the socket resumes after the snapshot's number
  socket.connect();
  setInterval(render, 1000); // the waits and times in status count up
}

start().catch((error) => {
  showStatus("offline");
  console.warn("supervisor view:", error);
});
