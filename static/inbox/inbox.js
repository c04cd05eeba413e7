// The agents' inbox: the entry point that templates/inbox/inbox.html loads. It wires
// the modules together and starts; each module holds one concern over the shared
// state (state.js). Data comes from the JSON API (docs/api.md) and stays current
// through the socket (docs/websocket.md). Never put a concern's own logic here:
// only the wiring, the once-a-second tick and the first load.
//
// Where two concerns would import each other (a list row opens the pane, which
// redraws the list; a 409 updates the conversation through modules that report
// errors; the socket's frames go to modules that send on it), one is handed the
// other's function here instead, so the imports point one way
// (tests/test_inbox_modules.py checks it).
import { act } from "./actions.js";
import {
  campaignDialogOpen,
  loadCampaigns,
  openCampaignDialog,
  renderCampaignForm,
  sendCampaign,
} from "./campaigns.js";
import { closeCanned, loadCanned, onComposerKey, updateCanned } from "./canned.js";
import { renderComposerState, send, sendTyping, setComposeMode, updateCounter } from "./composer.js";
import { connect, socket } from "./connection.js";
import { onKey } from "./keys.js";
import {
  applyCounts,
  dueText,
  loadCounts,
  loadLabels,
  listingNow,
  loadList,
  onChoose,
  selectLabel,
  selectQueue,
} from "./list.js";
import { applyConversation, applyEvent } from "./live.js";
import { unlockSound } from "./notify.js";
import { markRead, openConversation, renderWindow } from "./pane.js";
import { applyNotice, loadAgents, renderActivity } from "./presence.js";
import { composerBlock } from "./rules.js";
import { app, state } from "./state.js";
import { tickSla } from "./sla.js";
import { tickWindows } from "./window_left.js";
import { renderMyStatus, toggleStatus } from "./status.js";
import { handleConflicts } from "./toasts.js";
import { upsertMessage } from "./transcript.js";
import { $, debounce, duration, ms } from "./util.js";

onChoose(openConversation);
// A 409 carries the conversation's state or the message as it stands now.
handleConflicts((body) => {
  if (body.conversation) applyConversation(body.conversation, null);
  if (body.message) upsertMessage(body.message);
});

async function reloadAll() {
  await Promise.all([
    loadList(),
    loadCounts(),
    loadAgents(),
    loadLabels(),
    state.openId ? openConversation(state.openId, { quiet: true }) : null,
  ]);
}

function tick() {
  const now = Date.now();
  for (const node of document.querySelectorAll(".wait[data-since]")) {
    node.textContent = duration((now - ms(node.dataset.since)) / 1000);
  }
  for (const node of document.querySelectorAll(".due-chip[data-due]")) {
    node.textContent = dueText(node.dataset.due);
  }
  tickSla();
  tickWindows();
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
  $("my-status").addEventListener("click", toggleStatus);
  renderMyStatus();
  $("reconnect-now").addEventListener("click", () => socket.reconnectNow());
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  for (const tab of document.querySelectorAll("#compose-modes [data-mode]")) {
    tab.addEventListener("click", () => setComposeMode(tab.dataset.mode, { focus: true }));
  }
  const reply = $("reply");
  reply.addEventListener("keydown", onComposerKey);
  reply.addEventListener("input", () => {
    updateCounter();
    updateCanned();
    sendTyping();
  });
  reply.addEventListener("blur", closeCanned);
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
  connect({
    onHello(frame, first) {
      // The agents (who is online, their status and load) load with the lists; the
      // presence events that follow, or a reconnect's catch-up, keep them current.
      if (first) reloadAll();
      // The socket sends counts only once they change: after a reconnect, ask once.
      else loadCounts();
      if (state.openId) socket.send({ type: "viewing", conversation_id: state.openId });
    },
    onResync() {
      reloadAll();
    },
    viewing: () => state.openId,
    listing: listingNow,
    onEvent: applyEvent,
    onNotice: (frame) => (frame.type === "counts" ? applyCounts(frame.counts) : applyNotice(frame)),
  });
  // Show the lists even if the socket is slow to come up; its hello reloads them. Not
  // once the server has ended this session's access: the API would only refuse.
  setTimeout(() => {
    if (!["online", "signed-out", "forbidden"].includes(app.dataset.connection)) reloadAll();
  }, 1500);
}

start();
