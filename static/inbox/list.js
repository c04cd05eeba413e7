// The conversation list: the queue tabs and their counts, the label filter, the
// search's results, and each row, kept in the API's order while events move rows.
// Never open or change a conversation here: a chosen row goes to the handler that
// the entry point registers (pane.js's openConversation, which imports this module).
import { api } from "./api.js";
import { socket } from "./connection.js";
import { setTitleCount } from "./notify.js";
import { ME, inMyQueues, state } from "./state.js";
import { reasonText, stateText } from "./thread.js";
import { slaNode } from "./sla.js";
import { windowNode } from "./window_left.js";
import { reportError } from "./toasts.js";
import { $, duration, el, fmt, ms, throttle, when } from "./util.js";

const { gettext } = window;

export const QUEUES = ["waiting", "mine", "bot", "resolved", "all"];

let labels = []; // the labels the filter offers
let nextCursor = null;
let listToken = 0;
let choose = () => {};

/** What choosing a row does (a click, j/k, a notification): open it. */
export function onChoose(handler) {
  choose = handler;
}

// ---------------------------------------------------------------- loading

let countsAsked = 0;
export async function loadCounts() {
  const asked = ++countsAsked;
  let counts;
  try {
    const query = state.label ? `?${new URLSearchParams({ label: state.label })}` : "";
    counts = await api("GET", `/api/counts/${query}`);
  } catch (error) {
    return reportError(error);
  }
  if (asked !== countsAsked) return; // a later answer is on its way
  showCounts(counts);
}
const loadCountsSoon = throttle(loadCounts, 300);

function showCounts(counts) {
  for (const queue of QUEUES) {
    const node = document.querySelector(`[data-count="${queue}"]`);
    if (node) node.textContent = String(counts[queue] ?? "·");
  }
  setTitleCount(counts.waiting || 0);
}

/** After a change to the lists. The socket sends this agent's counts itself (`counts`,
 * read once for every agent on the server); only a label filter's counts are asked. */
export function refreshCounts() {
  if (state.label) loadCountsSoon();
}

/** The socket's counts: every label's, so not shown while a label filter is chosen.
 * Any answer still on its way is older than these. */
export function applyCounts(counts) {
  if (state.label) return;
  countsAsked += 1;
  showCounts(counts);
}

export async function loadLabels() {
  try {
    const data = await api("GET", "/api/labels/");
    labels = data.labels || [];
  } catch (error) {
    return reportError(error);
  }
  renderLabelFilter();
}

/** The filter's options: every known label, and the chosen one even if it is gone. */
function renderLabelFilter() {
  const select = $("label-filter");
  const shown = [...new Set([...labels, ...(state.label ? [state.label] : [])])].sort((a, b) =>
    a.localeCompare(b),
  );
  select.replaceChildren(
    el("option", { value: "" }, gettext("All labels")),
    ...shown.map((label) => el("option", { value: label }, label)),
  );
  select.value = state.label;
  select.hidden = shown.length === 0;
  select.classList.toggle("active", Boolean(state.label));
}

/** A label seen on an event joins the filter's options. */
export function knowLabel(label) {
  if (!label || labels.includes(label)) return;
  labels.push(label);
  renderLabelFilter();
}

export function selectLabel(label) {
  state.label = label;
  renderLabelFilter();
  state.order = [];
  renderList();
  loadList();
  loadCounts();
}

function listPath(cursor) {
  const params = new URLSearchParams({ queue: state.queue, limit: "50" });
  if (state.q) params.set("q", state.q);
  if (state.label) params.set("label", state.label);
  if (cursor) params.set("cursor", cursor);
  return `/api/conversations/?${params}`;
}

// The conversations live events changed while a first page was on its way: the
// server may have read the page before those changes, so its answer must not put
// their rows back where they were (or drop a row an event just placed).
let changedWhileLoading = null;

/** The list the socket is told this page shows (docs/websocket.md, `listing`): a
 * search's results may be any row, so all of them. */
export function listingNow() {
  return state.q ? "all" : state.queue;
}

export async function loadList({ more = false } = {}) {
  const token = ++listToken;
  const changed = new Set();
  if (!more) {
    changedWhileLoading = changed;
    // Before the read: the rows' events committed after it must come to this page.
    socket.send({ type: "listing", queue: listingNow() });
  }
  let data;
  try {
    data = await api("GET", listPath(more ? nextCursor : null));
  } catch (error) {
    return reportError(error);
  }
  if (token !== listToken) return; // a newer query answered first
  if (!more) {
    state.order = [];
    changedWhileLoading = null;
  }
  for (const summary of data.conversations || []) {
    // What an event said since is newer than the page; the page adds the preview.
    const live = changed.has(summary.id) ? state.convs.get(summary.id) : null;
    state.convs.set(summary.id, live ? { ...summary, ...live } : summary);
    if (!state.order.includes(summary.id)) state.order.push(summary.id);
  }
  if (!state.q) {
    for (const id of changed) if (state.convs.has(id)) placeInList(state.convs.get(id));
  }
  nextCursor = data.next_cursor || null;
  renderList();
}
export const reloadListSoon = throttle(() => loadList(), 500);

// ---------------------------------------------------------------- the rows

function inQueue(summary, queue) {
  if (state.label && summary.queue_label !== state.label) return false;
  switch (queue) {
    case "waiting":
      return summary.state === "waiting" && inMyQueues(summary);
    case "mine":
      return summary.state === "assigned" && summary.assignee === ME;
    case "bot":
      return summary.state === "bot";
    case "resolved":
      return summary.state === "resolved";
    default:
      return true;
  }
}

// The API's order for each queue (docs/api.md), kept while events move rows.
function compare(queue) {
  const asc = (key) => (a, b) => ms(a[key]) - ms(b[key]) || a.id - b.id;
  const desc = (key) => (a, b) => ms(b[key]) - ms(a[key]) || b.id - a.id;
  // Those moved ahead for a closing window first, soonest deadline first (serve_by).
  const ahead = (a, b) =>
    Boolean(b.serve_by) - Boolean(a.serve_by) || (a.serve_by ? ms(a.serve_by) - ms(b.serve_by) : 0);
  return {
    waiting: (a, b) => ahead(a, b) || asc("escalated_at")(a, b),
    mine: asc("last_message_at"),
    bot: desc("last_message_at"),
    resolved: desc("resolved_at"),
    all: desc("last_message_at"),
  }[queue];
}

/** Put a changed conversation where the current queue wants it (or take it out). */
export function placeInList(summary) {
  if (changedWhileLoading) changedWhileLoading.add(summary.id);
  if (state.q) {
    reloadListSoon(); // only the server knows what the search matches
    return;
  }
  const index = state.order.indexOf(summary.id);
  const belongs = inQueue(summary, state.queue);
  if (!belongs && index >= 0) state.order.splice(index, 1);
  if (belongs && index < 0) state.order.push(summary.id);
  if (belongs) {
    const cmp = compare(state.queue);
    state.order.sort((a, b) => cmp(state.convs.get(a), state.convs.get(b)));
  }
}

function waitedSince(summary) {
  // The server's: since the hand-over or the customer's first unanswered message.
  if (["waiting", "assigned"].includes(summary.state) && summary.waiting_since) {
    return summary.waiting_since;
  }
  const last = summary.last_message;
  if (summary.state === "assigned" && last && last.author_kind === "customer") {
    return last.created_at;
  }
  return null;
}

/** The reply timer's chip: how long is left before the chat goes back to the queue. */
export function dueNode(dueAt) {
  return el("span", {
    class: "chip small due-chip",
    dataset: { due: dueAt },
    title: fmt(gettext("Goes back to the queue unless answered by %(when)s"), { when: when(dueAt) }),
    text: dueText(dueAt),
  });
}

export function dueText(dueAt) {
  const left = (ms(dueAt) - Date.now()) / 1000;
  return left > 0
    ? fmt(gettext("reply within %(left)s"), { left: duration(left) })
    : gettext("reply overdue");
}

function previewText(summary) {
  const last = summary.last_message;
  if (!last) return "";
  const prefix = {
    bot: gettext("Bot: "),
    agent: last.author === ME ? gettext("You: ") : "",
    system: gettext("System: "),
  }[last.author_kind];
  return (prefix || "") + last.text;
}

function rowNode(summary) {
  const since = waitedSince(summary);
  const contact = summary.contact || {};
  const selected = summary.id === state.openId;
  return el(
    "li",
    {
      class: `row${summary.unread ? " unread" : ""}${selected ? " selected" : ""}`,
      role: "option",
      "aria-selected": selected ? "true" : "false",
      tabindex: "-1",
      dataset: { conversationId: summary.id, state: summary.state },
      onclick: () => choose(summary.id),
    },
    el(
      "div",
      { class: "row-top" },
      summary.unread
        ? el("span", { class: "unread-dot", title: gettext("Unread"), "aria-label": gettext("Unread") })
        : null,
      el("span", { class: "row-name", text: contact.name || contact.phone_number || "" }),
      el("span", { class: "row-phone muted", text: contact.name ? contact.phone_number : "" }),
      since
        ? el("span", {
            class: "wait",
            dataset: { since },
            title: gettext("Waiting for a reply"),
            text: duration((Date.now() - ms(since)) / 1000),
          })
        : el("span", { class: "muted row-time", text: when(summary.last_message_at) }),
    ),
    el("div", { class: "row-preview", text: previewText(summary) }),
    el(
      "div",
      { class: "row-tags" },
      state.queue === "all" || state.q
        ? el("span", { class: `state-badge state-${summary.state}`, text: stateText(summary.state) })
        : null,
      summary.queue_label
        ? el("span", {
            class: "chip small label-chip",
            title: fmt(gettext("Queue label (topic %(topic)s)"), { topic: summary.topic || "—" }),
            text: summary.queue_label,
          })
        : null,
      summary.state === "assigned" && summary.reply_due_at ? dueNode(summary.reply_due_at) : null,
      ["waiting", "assigned"].includes(summary.state) ? slaNode(summary.sla) : null,
      windowNode(summary),
      summary.team
        ? el("span", {
            class: "chip small team-chip",
            title: gettext("The team whose queue it waits in"),
            text: summary.team,
          })
        : null,
      summary.escalation_reason
        ? el("span", { class: "chip small", text: reasonText(summary.escalation_reason) })
        : null,
      summary.assignee ? el("span", { class: "muted", text: `@${summary.assignee}` }) : null,
      summary.mentioned
        ? el("span", {
            class: "chip small mention-chip",
            title: gettext("You were mentioned in a private note"),
            text: fmt(gettext("%(me)s mentioned"), { me: `@${ME}` }),
          })
        : null,
    ),
  );
}

export function renderList() {
  const list = $("conversation-list");
  list.replaceChildren(...state.order.map((id) => rowNode(state.convs.get(id))));
  $("list-empty").hidden = state.order.length > 0;
  $("load-more").hidden = !nextCursor;
}

export function selectQueue(queue) {
  if (!QUEUES.includes(queue)) return;
  state.queue = queue;
  for (const button of document.querySelectorAll(".queue")) {
    button.setAttribute("aria-pressed", button.dataset.queue === queue ? "true" : "false");
  }
  state.order = [];
  renderList();
  loadList();
}

/** j/k: the next or previous row, opened and scrolled into view. */
export function moveSelection(step) {
  if (!state.order.length) return;
  const index = state.order.indexOf(state.openId);
  const next = index < 0 ? 0 : Math.min(state.order.length - 1, Math.max(0, index + step));
  choose(state.order[next]);
  const row = document.querySelector(`[data-conversation-id="${state.order[next]}"]`);
  if (row) row.scrollIntoView({ block: "nearest" });
}
