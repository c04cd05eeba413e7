// The inbox's one shared state: what the page knows, read by the other inbox modules.
// It imports nothing, so any module may import it without a circle.
// Never put page rendering, requests or socket traffic here; a bit that only one
// module uses belongs in that module, not in `state`.

/** The page's root element; data-connection on it says how the socket is doing. */
export const app = document.getElementById("app");
/** The agent signed in, whether they are staff, the longest reply (from the page). */
export const ME = app.dataset.me;
export const STAFF = app.dataset.staff === "true";
export const MAX_CHARS = Number(app.dataset.maxChars) || 4096;
/** The teams I belong to: my Waiting queue shows theirs and the chats of no team. */
export const MY_TEAMS = JSON.parse(document.getElementById("my-teams").textContent || "[]");

/** Whether a waiting chat is in a queue I see (staff see every team's). */
export function inMyQueues(summary) {
  return STAFF || !summary.team || MY_TEAMS.includes(summary.team);
}

/**
 * Plain data, changed in place by the module named beside each field; the others
 * only read it. Socket events and API answers both land here, then the page is
 * drawn from it.
 */
export const state = {
  // The list (list.js; the entry point sets q from the search box).
  queue: "waiting",
  q: "",
  label: "", // queue label filter ("" = every label)
  order: [], // ids of the list, in display order
  convs: new Map(), // id -> summary (rememberSummary, forgetConversations)
  // The open conversation (pane.js).
  openId: null,
  detail: null, // {conversation, contact, messages: Map, events: [], notes: [], earlier}
  opening: null, // the load in flight: actions asked for meanwhile wait for it
  holding: null, // {id, frames}: socket events for a conversation while it loads
  // People (presence.js): username -> {username, display_name, online, status,
  // capacity, open_count}, as GET /api/agents/ and `presence` events give them.
  agents: new Map(),
  // The status I chose, available or away (status.js); the page starts from the server's.
  myStatus: app.dataset.status === "away" ? "away" : "available",
  activity: new Map(), // agent -> {conversationId, activity, at}
  // What an agent may send (canned.js, campaigns.js).
  canned: [],
  campaigns: [], // active Braze campaigns agents may send (docs/api.md)
  sending: false, // a reply, note or campaign is on its way (composer.js, campaigns.js)
  composeMode: "reply", // the composer writes to the customer, or a private "note" (composer.js)
};

/** Merge a conversation from an event or an API answer into the known summaries. */
export function rememberSummary(conversation) {
  const previous = state.convs.get(conversation.id) || {};
  state.convs.set(conversation.id, { ...previous, ...conversation });
}

/** Erased conversations: forgotten by the list and by a load that was waiting for them. */
export function forgetConversations(gone) {
  for (const id of gone) state.convs.delete(id);
  state.order = state.order.filter((id) => !gone.has(id));
  if (state.holding && gone.has(state.holding.id)) state.holding = null;
}
