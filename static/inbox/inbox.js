// The agents' inbox: state, list, pane, composer and shortcuts. Data comes from the
// JSON API (docs/api.md) and stays current through the socket (docs/websocket.md).
import { api, ApiError } from "./api.js";
import { beep, notify, setTitleCount, unlockSound } from "./notify.js";
import { InboxSocket } from "./socket.js";
import {
  eventNode,
  messageNode,
  reasonText,
  splitIndex,
  stateText,
  timeline,
} from "./thread.js";
import { charCount, debounce, duration, el, fmt, ms, throttle, when } from "./util.js";

const { gettext, ngettext } = window;
const $ = (id) => document.getElementById(id);

const app = $("app");
const ME = app.dataset.me;
const STAFF = app.dataset.staff === "true";
const MAX_CHARS = Number(app.dataset.maxChars) || 4096;
const QUEUES = ["waiting", "mine", "bot", "resolved", "all"];
const TYPING_EVERY_MS = 2000;
const TYPING_SHOWN_MS = 6000;

const state = {
  queue: "waiting",
  q: "",
  label: "", // queue label filter ("" = every label)
  labels: [], // the labels the filter offers
  order: [], // ids of the list, in display order
  convs: new Map(), // id -> summary
  nextCursor: null,
  counts: {},
  openId: null,
  detail: null, // {conversation, contact, messages: Map, events: [], earlier}
  agents: [],
  online: new Set(),
  canned: [],
  campaigns: [], // active Braze campaigns agents may send (docs/api.md)
  activity: new Map(), // agent -> {conversationId, activity, at}
  listToken: 0,
  lastTypingSent: 0,
};

// ---------------------------------------------------------------- socket

const socket = new InboxSocket({
  onHello(frame, first) {
    state.online = new Set(frame.online || []);
    renderPresence();
    if (first) reloadAll();
    if (state.openId) socket.send({ type: "viewing", conversation_id: state.openId });
  },
  onResync() {
    reloadAll();
  },
  onEvent: applyEvent,
  onNotice: applyNotice,
  onStatus: renderConnection,
});

let retryTicker = null;
function renderConnection(status, retryAt) {
  app.dataset.connection = status;
  const banner = $("connection-banner");
  clearInterval(retryTicker);
  if (status === "online") {
    banner.hidden = true;
    return;
  }
  if (status === "signed-out") {
    banner.hidden = false;
    $("reconnect-now").hidden = true;
    $("sign-in-again").hidden = false;
    $("connection-text").textContent = gettext(
      "You were signed out: your access to the inbox changed. Sign in again to go on.",
    );
    return;
  }
  if (status === "forbidden") {
    banner.hidden = false;
    $("connection-text").textContent = gettext("This account may not use the inbox.");
    return;
  }
  if (status === "connecting" && banner.hidden) return; // first connect: no alarm
  banner.hidden = false;
  const show = () => {
    const left = retryAt ? Math.max(0, Math.ceil((retryAt - Date.now()) / 1000)) : 0;
    $("connection-text").textContent =
      status === "offline" && left > 0
        ? fmt(gettext("Offline: reconnecting in %(s)s s…"), { s: left })
        : gettext("Offline: reconnecting…");
  };
  show();
  if (status === "offline") retryTicker = setInterval(show, 1000);
}

// ---------------------------------------------------------------- loading

async function reloadAll() {
  await Promise.all([
    loadList(),
    loadCounts(),
    loadAgents(),
    loadLabels(),
    state.openId ? openConversation(state.openId, { quiet: true }) : null,
  ]);
}

let countsAsked = 0;
async function loadCounts() {
  const asked = ++countsAsked;
  let counts;
  try {
    const query = state.label ? `?${new URLSearchParams({ label: state.label })}` : "";
    counts = await api("GET", `/api/counts/${query}`);
  } catch (error) {
    return reportError(error);
  }
  if (asked !== countsAsked) return; // a later answer is on its way
  state.counts = counts;
  for (const queue of QUEUES) {
    const node = document.querySelector(`[data-count="${queue}"]`);
    if (node) node.textContent = String(state.counts[queue] ?? "·");
  }
  setTitleCount(state.counts.waiting || 0);
}
const refreshCounts = throttle(loadCounts, 300);

async function loadAgents() {
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

async function loadLabels() {
  try {
    const data = await api("GET", "/api/labels/");
    state.labels = data.labels || [];
  } catch (error) {
    return reportError(error);
  }
  renderLabelFilter();
}

/** The filter's options: every known label, and the chosen one even if it is gone. */
function renderLabelFilter() {
  const select = $("label-filter");
  const labels = [...new Set([...state.labels, ...(state.label ? [state.label] : [])])].sort(
    (a, b) => a.localeCompare(b),
  );
  select.replaceChildren(
    el("option", { value: "" }, gettext("All labels")),
    ...labels.map((label) => el("option", { value: label }, label)),
  );
  select.value = state.label;
  select.hidden = labels.length === 0;
  select.classList.toggle("active", Boolean(state.label));
}

function knowLabel(label) {
  if (!label || state.labels.includes(label)) return;
  state.labels.push(label);
  renderLabelFilter();
}

function selectLabel(label) {
  state.label = label;
  renderLabelFilter();
  state.order = [];
  renderList();
  loadList();
  loadCounts();
}

async function loadCanned() {
  try {
    state.canned = (await api("GET", "/api/canned-replies/")).canned_replies || [];
  } catch (error) {
    reportError(error);
  }
}

async function loadCampaigns() {
  try {
    state.campaigns = (await api("GET", "/api/campaigns/")).campaigns || [];
  } catch (error) {
    reportError(error);
  }
  if (state.detail) renderComposerState();
}

function listPath(cursor) {
  const params = new URLSearchParams({ queue: state.queue, limit: "50" });
  if (state.q) params.set("q", state.q);
  if (state.label) params.set("label", state.label);
  if (cursor) params.set("cursor", cursor);
  return `/api/conversations/?${params}`;
}

async function loadList({ more = false } = {}) {
  const token = ++state.listToken;
  let data;
  try {
    data = await api("GET", listPath(more ? state.nextCursor : null));
  } catch (error) {
    return reportError(error);
  }
  if (token !== state.listToken) return; // a newer query answered first
  if (!more) state.order = [];
  for (const summary of data.conversations || []) {
    state.convs.set(summary.id, summary);
    if (!state.order.includes(summary.id)) state.order.push(summary.id);
  }
  state.nextCursor = data.next_cursor || null;
  renderList();
}
const reloadListSoon = throttle(() => loadList(), 500);

// ---------------------------------------------------------------- the list

function inQueue(summary, queue) {
  if (state.label && summary.queue_label !== state.label) return false;
  switch (queue) {
    case "waiting":
      return summary.state === "waiting";
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
  return {
    waiting: asc("escalated_at"),
    mine: asc("last_message_at"),
    bot: desc("last_message_at"),
    resolved: desc("resolved_at"),
    all: desc("last_message_at"),
  }[queue];
}

/** Put a changed conversation where the current queue wants it (or take it out). */
function placeInList(summary) {
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
  if (summary.state === "waiting" && summary.waiting_since) return summary.waiting_since;
  const last = summary.last_message;
  if (summary.state === "assigned" && last && last.author_kind === "customer") {
    return last.created_at;
  }
  return null;
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
      onclick: () => openConversation(summary.id),
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
      summary.escalation_reason
        ? el("span", { class: "chip small", text: reasonText(summary.escalation_reason) })
        : null,
      summary.assignee ? el("span", { class: "muted", text: `@${summary.assignee}` }) : null,
    ),
  );
}

function renderList() {
  const list = $("conversation-list");
  list.replaceChildren(...state.order.map((id) => rowNode(state.convs.get(id))));
  $("list-empty").hidden = state.order.length > 0;
  $("load-more").hidden = !state.nextCursor;
}

function selectQueue(queue) {
  if (!QUEUES.includes(queue)) return;
  state.queue = queue;
  for (const button of document.querySelectorAll(".queue")) {
    button.setAttribute("aria-pressed", button.dataset.queue === queue ? "true" : "false");
  }
  state.order = [];
  renderList();
  loadList();
}

function moveSelection(step) {
  if (!state.order.length) return;
  const index = state.order.indexOf(state.openId);
  const next = index < 0 ? 0 : Math.min(state.order.length - 1, Math.max(0, index + step));
  openConversation(state.order[next]);
  const row = document.querySelector(`[data-conversation-id="${state.order[next]}"]`);
  if (row) row.scrollIntoView({ block: "nearest" });
}

// ---------------------------------------------------------------- the pane

/** Open a conversation; actions asked for while it loads wait for it (state.opening). */
function openConversation(id, options = {}) {
  const opening = loadConversation(id, options);
  state.opening = opening;
  const done = () => {
    if (state.opening === opening) state.opening = null;
  };
  opening.then(done, done);
  return opening;
}

async function loadConversation(id, { quiet = false } = {}) {
  const changed = state.openId !== id;
  state.openId = id;
  if (changed) {
    window.history.replaceState(null, "", `#c${id}`);
    socket.send({ type: "viewing", conversation_id: id });
    renderList();
  }
  // Socket events for this conversation that arrive while it loads are kept and
  // applied again on top of the answer, which may have been read before them.
  const held = [];
  state.holding = { id, frames: held };
  let data;
  try {
    data = await api("GET", `/api/conversations/${id}/`);
  } catch (error) {
    if (!quiet) reportError(error);
    return;
  } finally {
    if (state.holding && state.holding.frames === held) state.holding = null;
  }
  if (state.openId !== id) return;
  state.detail = {
    conversation: data.conversation,
    contact: data.contact,
    messages: new Map((data.messages || []).map((m) => [m.id, m])),
    events: data.events || [],
    earlier: data.earlier_conversations || [],
    hasEarlier: data.has_earlier_messages,
  };
  rememberSummary(data.conversation);
  renderThread({ keepComposer: !changed });
  for (const frame of held) applyToOpen(frame);
  markRead();
}

function rememberSummary(conversation) {
  const previous = state.convs.get(conversation.id) || {};
  state.convs.set(conversation.id, { ...previous, ...conversation });
}

function markRead() {
  const detail = state.detail;
  if (!detail || document.hidden) return;
  const summary = state.convs.get(detail.conversation.id);
  if (summary && summary.unread) {
    summary.unread = false;
    renderList();
  }
  const ids = [...detail.messages.keys()];
  const latest = ids.length ? Math.max(...ids) : null;
  if (latest === null || detail.readTo === latest) return;
  detail.readTo = latest;
  api("POST", `/api/conversations/${detail.conversation.id}/read/`, { message_id: latest }).catch(
    () => {},
  );
}

function retryMessage(messageId) {
  api("POST", `/api/messages/${messageId}/retry/`)
    .then((data) => data && data.message && upsertMessage(data.message, { fromApi: true }))
    .catch(reportError);
}

function renderThread({ keepComposer = false } = {}) {
  $("thread-empty").hidden = true;
  $("thread").hidden = false;
  $("contact-pane").hidden = false;
  if (!keepComposer) {
    $("reply").value = "";
    updateCounter();
  }
  renderHeader();
  renderTranscript();
  renderContact();
  renderActivity();
  scrollToEnd(true);
}

function renderHeader() {
  const { conversation, contact } = state.detail;
  $("thread-name").textContent = contact.name || contact.phone_number;
  $("thread-phone").textContent = contact.name ? contact.phone_number : "";
  const badge = $("thread-state");
  badge.className = `state-badge state-${conversation.state}`;
  badge.textContent =
    conversation.state === "assigned" && conversation.assignee
      ? fmt(gettext("Assigned to %(who)s"), { who: conversation.assignee })
      : stateText(conversation.state);
  const label = $("label-chip");
  label.hidden = !conversation.queue_label;
  label.textContent = conversation.queue_label || "";
  label.title = conversation.topic
    ? fmt(gettext("Queue label (topic %(topic)s)"), { topic: conversation.topic })
    : gettext("Queue label");
  if (conversation.satisfaction_score) badge.textContent += ` · ${fmt(gettext("satisfaction %(score)s/5"), { score: conversation.satisfaction_score })}`;
  const chip = $("reason-chip");
  chip.hidden = !conversation.escalation_reason;
  chip.textContent = conversation.escalation_reason
    ? fmt(gettext("Handed over: %(reason)s"), { reason: reasonText(conversation.escalation_reason) })
    : "";
  renderActions();
  renderComposerState();
}

function allowedActions(conversation) {
  const mine = conversation.state === "assigned" && conversation.assignee === ME;
  return {
    claim: conversation.state === "waiting",
    "take-over": conversation.state === "bot",
    transfer: conversation.state === "waiting" || mine || (conversation.state === "assigned" && STAFF),
    release: mine,
    resolve: mine || conversation.state === "waiting" || conversation.state === "bot",
  };
}

function renderActions() {
  const allowed = allowedActions(state.detail.conversation);
  for (const button of document.querySelectorAll("#actions [data-action]")) {
    button.hidden = !allowed[button.dataset.action];
  }
}

function renderTranscript({ botOpen = false } = {}) {
  const { messages, events, contact } = state.detail;
  const items = timeline([...messages.values()], events);
  const nodes = items.map((item) =>
    item.message ? messageNode(item.message, contact.name, retryMessage) : eventNode(item.event),
  );
  const transcript = $("transcript");
  const split = splitIndex(items);
  const earlierNote = state.detail.hasEarlier
    ? el("p", { class: "muted center", text: gettext("Only the last 500 messages are shown.") })
    : null;
  if (split === null || split === 0) {
    const human = el("div", { class: "human-part", id: "human-part" }, nodes);
    transcript.replaceChildren(...[earlierNote, human].filter(Boolean));
    return;
  }
  const botMessages = items.slice(0, split).filter((item) => item.message).length;
  const botPart = el(
    "details",
    { class: "bot-part", open: botOpen },
    el("summary", {
      text: fmt(
        ngettext(
          "Bot conversation (%(n)s message)",
          "Bot conversation (%(n)s messages)",
          botMessages,
        ),
        { n: botMessages },
      ),
    }),
    el("div", { class: "bot-items" }, nodes.slice(0, split)),
  );
  const human = el("div", { class: "human-part", id: "human-part" }, nodes.slice(split));
  transcript.replaceChildren(...[earlierNote, botPart, human].filter(Boolean));
}

function nearEnd() {
  const t = $("transcript");
  return t.scrollHeight - t.scrollTop - t.clientHeight < 80;
}

function scrollToEnd(force) {
  const t = $("transcript");
  if (force || nearEnd()) t.scrollTop = t.scrollHeight;
}

function appendToTranscript(node) {
  const stick = nearEnd();
  $("human-part").append(node);
  if (stick) scrollToEnd(true);
}

/**
 * Add or update a message in the open transcript. An answer to our own POST may be
 * older than the socket's delivery events for the same message (the stand-in or
 * Braze can answer before our response arrives), so it never overwrites them.
 */
function upsertMessage(message, { fromApi = false } = {}) {
  const detail = state.detail;
  if (!detail || detail.conversation.id !== message.conversation_id) return;
  const known = detail.messages.has(message.id);
  const previous = detail.messages.get(message.id);
  const merged = { ...previous, ...message };
  if (fromApi && previous) merged.delivery = previous.delivery;
  detail.messages.set(message.id, merged);
  const existing = document.querySelector(`[data-message-id="${message.id}"]`);
  if (existing) {
    existing.replaceWith(messageNode(detail.messages.get(message.id), detail.contact.name, retryMessage));
  } else if (!known) {
    appendToTranscript(messageNode(message, detail.contact.name, retryMessage));
  }
}

function renderContact() {
  const { contact, earlier } = state.detail;
  $("contact-phone").textContent = contact.phone_number || "";
  $("contact-external").textContent = contact.external_id || "";
  $("contact-first-seen").textContent = when(contact.first_seen_at);
  renderWindow();
  const list = $("earlier");
  list.replaceChildren(
    ...(earlier.length
      ? earlier.map((c) =>
          el(
            "li",
            {},
            el(
              "button",
              { type: "button", class: "link", onclick: () => openConversation(c.id) },
              `#${c.id} · ${stateText(c.state)} · ${when(c.created_at)}`,
            ),
            c.escalation_reason
              ? el("span", { class: "muted", text: ` ${reasonText(c.escalation_reason)}` })
              : null,
          ),
        )
      : [el("li", { class: "muted", text: gettext("None") })]),
  );
}

function windowLeft() {
  const contact = state.detail && state.detail.contact;
  if (!contact || !contact.window_closes_at) return null;
  return (ms(contact.window_closes_at) - Date.now()) / 1000;
}

function renderWindow() {
  const left = windowLeft();
  const node = $("contact-window");
  if (left === null) {
    node.textContent = gettext("not open (the customer has not written)");
    node.className = "window-closed";
  } else if (left <= 0) {
    node.textContent = gettext("closed");
    node.className = "window-closed";
  } else {
    node.textContent = fmt(gettext("%(left)s left"), { left: duration(left) });
    node.className = left < 3600 ? "window-soon" : "";
  }
}

// ---------------------------------------------------------------- composer

function composerBlock() {
  if (!state.detail) return { disabled: true, reason: "" };
  const { conversation } = state.detail;
  if (conversation.state === "resolved") {
    return {
      disabled: true,
      reason: gettext("This conversation is resolved: the customer's next message starts a new one."),
    };
  }
  if (conversation.state === "assigned" && conversation.assignee !== ME) {
    return {
      disabled: true,
      reason: fmt(gettext("%(who)s is handling this conversation. Only they can reply."), {
        who: conversation.assignee,
      }),
    };
  }
  const left = windowLeft();
  if (left === null || left <= 0) {
    return {
      disabled: true,
      reason: gettext(
        "WhatsApp's 24-hour window has closed: a reply cannot reach the customer until they write again.",
      ),
    };
  }
  if (conversation.state === "bot") {
    return { disabled: false, reason: gettext("Replying takes this conversation over from the bot.") };
  }
  if (conversation.state === "waiting") {
    // Claiming first keeps the reason the customer was handed over on record.
    return { disabled: true, reason: gettext("Claim this conversation (c) to reply.") };
  }
  return { disabled: false, reason: "" };
}

function renderComposerState() {
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

function updateCounter() {
  const count = charCount($("reply").value);
  const counter = $("char-count");
  counter.textContent = `${count} / ${MAX_CHARS}`;
  counter.classList.toggle("over", count > MAX_CHARS);
  $("send").disabled = $("reply").disabled || count === 0 || count > MAX_CHARS || state.sending;
}

async function sendReply() {
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

function sendTyping() {
  const now = Date.now();
  if (!state.openId || now - state.lastTypingSent < TYPING_EVERY_MS) return;
  state.lastTypingSent = now;
  socket.send({ type: "typing", conversation_id: state.openId });
}

// Canned replies: "/" and a shortcut at the start of a word opens the picker.
const canned = { open: false, matches: [], index: 0, start: 0 };

function cannedToken() {
  const reply = $("reply");
  const before = reply.value.slice(0, reply.selectionStart);
  const match = /(^|\s)\/([\w-]*)$/.exec(before);
  if (!match) return null;
  return { query: match[2].toLowerCase(), start: before.length - match[2].length - 1 };
}

function updateCanned() {
  const token = cannedToken();
  const box = $("canned");
  if (!token || !state.canned.length) {
    canned.open = false;
    box.hidden = true;
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

function insertCanned() {
  const choice = canned.matches[canned.index];
  if (!choice) return;
  const reply = $("reply");
  const end = reply.selectionStart;
  if (choice.campaign) {
    // Sent through its Braze campaign, not as text: take out the "/shortcut" typed.
    reply.value = reply.value.slice(0, canned.start) + reply.value.slice(end);
    canned.open = false;
    $("canned").hidden = true;
    updateCounter();
    openCampaignDialog(choice.campaign.key, choice.campaign.properties || {});
    return;
  }
  reply.value = reply.value.slice(0, canned.start) + choice.text + reply.value.slice(end);
  const caret = canned.start + choice.text.length;
  reply.setSelectionRange(caret, caret);
  canned.open = false;
  $("canned").hidden = true;
  updateCounter();
}

function onComposerKey(event) {
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
      canned.open = false;
      $("canned").hidden = true;
      return;
    }
  }
  // Enter sends; Shift+Enter is a new line; Enter that confirms an IME (Japanese
  // input) conversion is neither.
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
    event.preventDefault();
    sendReply();
    return;
  }
  if (event.key === "Escape") $("reply").blur();
}

// ---------------------------------------------------------------- campaigns

// A campaign (a Meta-approved template above all) is the only thing that reaches a
// customer whose 24-hour window has closed, so it stays available when the
// composer is not; a resolved conversation is reopened by it (docs/api.md).

function campaignBlocked() {
  if (!state.detail || !state.campaigns.length || state.sending) return true;
  const { conversation } = state.detail;
  return conversation.state === "assigned" && conversation.assignee !== ME;
}

function campaignDialogOpen() {
  return $("campaign-dialog").open;
}

const campaignForm = { conversationId: null, values: {} };

function chosenCampaign() {
  return state.campaigns.find((c) => c.key === $("campaign-select").value) || null;
}

function openCampaignDialog(key, properties = {}) {
  if (campaignBlocked()) return;
  const select = $("campaign-select");
  const windowOpen = (windowLeft() || 0) > 0;
  select.replaceChildren(
    ...state.campaigns.map((c) =>
      el(
        "option",
        { value: c.key },
        c.kind === "template"
          ? fmt(gettext("%(name)s (template)"), { name: c.name })
          : fmt(gettext("%(name)s (within the 24-hour window)"), { name: c.name }),
      ),
    ),
  );
  // Outside the window, offer a template first: that is what can reach the customer.
  const preferred =
    state.campaigns.find((c) => c.key === key) ||
    (!windowOpen && state.campaigns.find((c) => c.kind === "template")) ||
    state.campaigns[0];
  select.value = preferred.key;
  campaignForm.conversationId = state.detail.conversation.id;
  campaignForm.values = { ...properties };
  renderCampaignForm({ fresh: false });
  $("campaign-dialog").showModal();
  const first = $("campaign-fields").querySelector("textarea");
  const firstEmpty = [...$("campaign-fields").querySelectorAll("textarea")].find((f) => !f.value);
  (key ? firstEmpty || first || select : select).focus();
}

function renderCampaignForm({ fresh = false } = {}) {
  const campaign = chosenCampaign();
  if (!campaign) return;
  const fields = $("campaign-fields");
  if (fresh) {
    // Keep what was typed for names the newly chosen campaign also declares.
    for (const input of fields.querySelectorAll("textarea")) {
      campaignForm.values[input.name] = input.value;
    }
    showCampaignError("", {});
  }
  const windowOpen = (windowLeft() || 0) > 0;
  const kind = $("campaign-kind");
  const blockedByWindow = campaign.kind !== "template" && !windowOpen;
  kind.textContent =
    campaign.kind === "template"
      ? gettext("Template message: reaches the customer at any time.")
      : blockedByWindow
        ? gettext(
            "Response message: WhatsApp's 24-hour window has closed, so it cannot reach the customer. Choose a template.",
          )
        : gettext("Response message: only while WhatsApp's 24-hour window is open.");
  kind.className = blockedByWindow ? "error-text" : "muted";
  $("campaign-description").textContent = campaign.description || "";
  $("campaign-description").hidden = !campaign.description;
  $("campaign-send").disabled = blockedByWindow || state.sending;
  if (!fresh && fields.dataset.campaign === campaign.key) return; // keep the inputs as typed
  fields.dataset.campaign = campaign.key;
  fields.replaceChildren(
    ...(campaign.property_names.length
      ? campaign.property_names.map((name, i) => {
          const id = `campaign-property-${i}`;
          return el(
            "div",
            { class: "campaign-field" },
            el("label", { for: id, text: name }),
            el("textarea", {
              id,
              name,
              rows: "1",
              maxlength: "1024",
              "aria-describedby": `${id}-error`,
            }),
            el("span", { id: `${id}-error`, class: "error-text field-error", hidden: true }),
          );
        })
      : [el("p", { class: "muted", text: gettext("This campaign takes no properties.") })]),
  );
  for (const input of fields.querySelectorAll("textarea")) {
    input.value = campaignForm.values[input.name] ?? "";
    input.addEventListener("keydown", (event) => {
      // Enter sends, as in the reply box; Shift+Enter adds a line.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        sendCampaign();
      }
    });
  }
}

function showCampaignError(message, fields) {
  const box = $("campaign-error");
  box.hidden = !message;
  box.textContent = message || "";
  for (const input of $("campaign-fields").querySelectorAll("textarea")) {
    const problem = fields[`properties.${input.name}`];
    const note = $(`${input.id}-error`);
    note.hidden = !problem;
    note.textContent = problem ? `${input.name} ${problem}` : "";
    input.setAttribute("aria-invalid", problem ? "true" : "false");
  }
}

async function sendCampaign() {
  const campaign = chosenCampaign();
  if (!campaign || state.sending || $("campaign-send").disabled) return;
  const properties = {};
  for (const input of $("campaign-fields").querySelectorAll("textarea")) {
    properties[input.name] = input.value;
  }
  const id = campaignForm.conversationId;
  state.sending = true;
  $("campaign-send").disabled = true;
  try {
    const data = await api("POST", `/api/conversations/${id}/send-campaign/`, {
      campaign: campaign.key,
      properties,
    });
    $("campaign-dialog").close();
    if (data && data.message) upsertMessage(data.message, { fromApi: true });
    toast(fmt(gettext("“%(name)s” queued."), { name: campaign.name }));
  } catch (error) {
    if (error instanceof ApiError && (error.status === 400 || error.status === 409)) {
      showCampaignError(error.message, error.body.fields || {});
      if (error.status === 409 && error.body.conversation) {
        applyConversation(error.body.conversation, null);
      }
      const invalid = $("campaign-fields").querySelector('[aria-invalid="true"]');
      if (invalid) invalid.focus();
    } else {
      showCampaignError(gettext("The server could not be reached. Try again."), {});
    }
  } finally {
    state.sending = false;
    if (campaignDialogOpen()) renderCampaignForm();
    updateCounter();
  }
}

// ---------------------------------------------------------------- actions

async function act(action) {
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
  const current = state.detail.conversation.assignee;
  const choices = state.agents.filter((a) => a.username !== current);
  if (!choices.length) {
    toast(gettext("There is no other agent to transfer to."));
    return Promise.resolve(null);
  }
  select.replaceChildren(
    ...choices.map((a) =>
      el(
        "option",
        { value: a.username },
        `${a.display_name || a.username}${state.online.has(a.username) ? ` · ${gettext("online")}` : ""}`,
      ),
    ),
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

// ---------------------------------------------------------------- live events

function applyConversation(conversation, event) {
  const previous = state.convs.get(conversation.id);
  knowLabel(conversation.queue_label);
  rememberSummary(conversation);
  placeInList(state.convs.get(conversation.id));
  renderList();
  refreshCounts();
  const startedWaiting =
    conversation.state === "waiting" &&
    (previous ? previous.state !== "waiting" : event && ["escalated", "released"].includes(event.kind));
  // Not for a chat I released myself: I know it is waiting.
  if (startedWaiting && event && event.actor !== ME) announceWaiting(conversation);
  applyToOpen({ type: "conversation.updated", conversation, event });
}

function announceWaiting(conversation) {
  const contact = conversation.contact || {};
  const who = contact.name || contact.phone_number || "";
  beep();
  notify(
    fmt(gettext("%(who)s is waiting"), { who }),
    reasonText(conversation.escalation_reason),
    `handoff-waiting-${conversation.id}`,
    () => {
      selectQueue("waiting");
      openConversation(conversation.id);
    },
  );
}

/** The part of an event that changes the open transcript (also replayed after a load). */
function applyToOpen(frame) {
  const id = frame.conversation_id ?? (frame.message || frame.conversation || {}).conversation_id;
  const conversationId = frame.type === "conversation.updated" ? frame.conversation.id : id;
  if (state.holding && state.holding.id === conversationId) state.holding.frames.push(frame);
  const detail = state.detail;
  if (!detail || detail.conversation.id !== conversationId) return;
  if (frame.type === "message.created") upsertMessage(frame.message);
  else if (frame.type === "message.delivery") {
    const message = detail.messages.get(frame.message_id);
    if (message) upsertMessage({ ...message, delivery: frame.delivery });
  } else if (frame.type === "conversation.updated") {
    detail.conversation = { ...detail.conversation, ...frame.conversation };
    const event = frame.event;
    if (event && !detail.events.some((e) => e.id === event.id)) {
      detail.events.push(event);
      if (event.kind === "escalated" || event.kind === "taken_over") {
        // The hand-over happened while the agent watched: split the transcript
        // now, leaving the bot's part open where they were reading it.
        const stick = nearEnd();
        renderTranscript({ botOpen: true });
        if (stick) scrollToEnd(true);
      } else {
        appendToTranscript(eventNode(event));
      }
    }
    renderHeader();
  }
}

function applyEvent(frame) {
  switch (frame.type) {
    case "conversation.updated":
      applyConversation(frame.conversation, frame.event);
      break;
    case "message.created": {
      const message = frame.message;
      const summary = state.convs.get(message.conversation_id);
      const open = state.openId === message.conversation_id;
      if (summary) {
        // System texts (the hand-over notice) are not previews: see docs/api.md.
        if (message.author_kind !== "system") summary.last_message = {
          id: message.id,
          author_kind: message.author_kind,
          author: message.author,
          text: message.text.slice(0, 200),
          created_at: message.created_at,
        };
        if (message.author_kind === "customer") {
          summary.last_message_at = message.created_at;
          if (!open || document.hidden) summary.unread = true;
        }
        placeInList(summary);
        renderList();
      } else if (!state.q) {
        reloadListSoon();
      }
      if (open) {
        applyToOpen(frame);
        if (message.author_kind === "customer") markRead();
      }
      break;
    }
    case "message.delivery":
      applyToOpen(frame);
      break;
    case "conversation.erased":
      dropConversations(frame.conversation_ids || [], frame.reason);
      break;
    case "presence":
      if (frame.online) state.online.add(frame.agent);
      else state.online.delete(frame.agent);
      renderPresence();
      break;
    default:
      break;
  }
}

/** Conversations erased on request or past the retention (the event holds only their
 * ids): they leave the list, and an open one closes with everything shown of it. */
function dropConversations(ids, reason) {
  const gone = new Set(ids);
  for (const id of gone) state.convs.delete(id);
  state.order = state.order.filter((id) => !gone.has(id));
  renderList();
  refreshCounts();
  if (state.holding && gone.has(state.holding.id)) state.holding = null;
  if (state.openId !== null && gone.has(state.openId)) {
    closeConversation();
    toast(
      reason === "retention"
        ? gettext("The open conversation was removed: it was older than the retention period.")
        : gettext("The open conversation was erased at the customer's request."),
    );
  } else if (state.detail && state.detail.earlier.some((c) => gone.has(c.id))) {
    state.detail.earlier = state.detail.earlier.filter((c) => !gone.has(c.id));
    renderContact();
  }
}

/** Back to "pick a conversation", leaving nothing of the last one in the page. */
function closeConversation() {
  state.openId = null;
  state.detail = null;
  window.history.replaceState(null, "", window.location.pathname + window.location.search);
  socket.send({ type: "viewing", conversation_id: null });
  for (const id of ["campaign-dialog", "transfer-dialog"]) {
    if ($(id).open) $(id).close();
  }
  for (const id of ["thread-name", "thread-phone", "contact-phone", "contact-external"]) {
    $(id).textContent = "";
  }
  $("transcript").replaceChildren();
  $("earlier").replaceChildren();
  $("reply").value = "";
  updateCounter();
  $("thread").hidden = true;
  $("contact-pane").hidden = true;
  $("thread-empty").hidden = false;
  renderActivity();
}

function applyNotice(frame) {
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

function renderActivity() {
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

function renderPresence() {
  const list = $("presence");
  const names = [...state.online].sort();
  list.replaceChildren(
    ...names.map((name) =>
      el("li", { class: name === ME ? "me-dot" : "", title: gettext("online") }, name),
    ),
  );
}

// ---------------------------------------------------------------- messages to the agent

function reportError(error) {
  if (error instanceof ApiError) {
    if (error.status === 409 && error.body.conversation) {
      applyConversation(error.body.conversation, null);
    }
    if (error.status === 409 && error.body.message) upsertMessage(error.body.message);
    const fields = error.body.fields ? Object.values(error.body.fields).join(" ") : "";
    toast([error.message, fields].filter(Boolean).join(" "), "error");
  } else if (error) {
    toast(gettext("The server could not be reached. Try again."), "error");
  }
}

function toast(text, kind = "info") {
  const node = el("div", { class: `toast toast-${kind}`, role: "alert", text });
  $("toasts").append(node);
  setTimeout(() => node.remove(), 6000);
}

// ---------------------------------------------------------------- keyboard

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

function onKey(event) {
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
  else if (event.key === "r" && !$("reply").disabled && state.detail) $("reply").focus();
  else if (event.key === "t" && !campaignBlocked()) openCampaignDialog();
  else if (event.key === "s") $("search").focus();
  else if (event.key === "l" && !$("label-filter").hidden) $("label-filter").focus();
  else if (event.key === "e") resolveByKey();
  else if (actions[event.key]) act(actions[event.key]);
  else return;
  event.preventDefault();
}

// ---------------------------------------------------------------- start

function tick() {
  const now = Date.now();
  for (const node of document.querySelectorAll(".wait[data-since]")) {
    node.textContent = duration((now - ms(node.dataset.since)) / 1000);
  }
  if (state.detail) {
    renderWindow();
    const before = $("reply").disabled;
    if (composerBlock().disabled !== before) renderComposerState();
    if (campaignDialogOpen()) renderCampaignForm();
  }
  renderActivity();
}

function start() {
  for (const button of document.querySelectorAll(".queue")) {
    button.addEventListener("click", () => selectQueue(button.dataset.queue));
  }
  for (const button of document.querySelectorAll("#actions [data-action]")) {
    button.addEventListener("click", () => act(button.dataset.action));
  }
  $("search").addEventListener(
    "input",
    debounce(() => {
      state.q = $("search").value.trim();
      loadList();
    }, 250),
  );
  $("label-filter").addEventListener("change", (event) => selectLabel(event.target.value));
  $("load-more").addEventListener("click", () => loadList({ more: true }));
  $("help-button").addEventListener("click", () => $("help-dialog").showModal());
  $("reconnect-now").addEventListener("click", () => socket.reconnectNow());
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    sendReply();
  });
  const reply = $("reply");
  reply.addEventListener("keydown", onComposerKey);
  reply.addEventListener("input", () => {
    updateCounter();
    updateCanned();
    sendTyping();
  });
  reply.addEventListener("blur", () => {
    canned.open = false;
    $("canned").hidden = true;
  });
  document.addEventListener("keydown", onKey);
  document.addEventListener("pointerdown", unlockSound, { once: true });
  document.addEventListener("keydown", unlockSound, { once: true });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) markRead();
  });
  window.addEventListener("online", () => socket.reconnectNow());
  setInterval(tick, 1000);

  // #c12 in the address opens conversation 12 (links, reloads, notifications).
  const fromHash = /^#c(\d+)$/.exec(window.location.hash);
  if (fromHash) state.openId = Number(fromHash[1]);
  window.addEventListener("hashchange", () => {
    const match = /^#c(\d+)$/.exec(window.location.hash);
    if (match && Number(match[1]) !== state.openId) openConversation(Number(match[1]));
  });
  $("send-campaign").addEventListener("click", () => openCampaignDialog());
  $("campaign-select").addEventListener("change", () => renderCampaignForm({ fresh: true }));
  $("campaign-cancel").addEventListener("click", () => $("campaign-dialog").close());
  $("campaign-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sendCampaign();
  });
  loadCanned();
  loadCampaigns();
  socket.connect();
  // Show the lists even if the socket is slow to come up; its hello reloads them. Not
  // once the server has ended this session's access: the API would only refuse.
  setTimeout(() => {
    if (!["online", "signed-out", "forbidden"].includes(app.dataset.connection)) reloadAll();
  }, 1500);
}

start();
