// My own status, available or away: the header's control, its key (a), and asking the
// API to change it. The server keeps it, so a reload starts from it, and tells every
// inbox (mine included) through a `presence` event. Never draw other agents here
// (presence.js does).
import { api } from "./api.js";
import { ME, state } from "./state.js";
import { reportError } from "./toasts.js";
import { $ } from "./util.js";

const { gettext } = window;
let saving = false;

export function renderMyStatus() {
  const button = $("my-status");
  button.dataset.status = state.myStatus;
  $("my-status-text").textContent =
    state.myStatus === "away" ? gettext("Away") : gettext("Available");
}

/** Switch between available and away (the control's click and the `a` key). */
export async function toggleStatus() {
  if (saving) return;
  saving = true;
  const button = $("my-status");
  button.setAttribute("aria-busy", "true");
  try {
    const wanted = state.myStatus === "away" ? "available" : "away";
    const me = await api("POST", "/api/me/status/", { status: wanted });
    state.myStatus = me.chosen_status;
    renderMyStatus();
  } catch (error) {
    reportError(error);
  } finally {
    saving = false;
    button.removeAttribute("aria-busy");
  }
}

/** A `presence` event about me: another tab of mine (or an admin) changed my status. */
export function applyMyPresence(frame) {
  if (frame.agent !== ME || frame.status === "offline") return;
  state.myStatus = frame.status;
  renderMyStatus();
}
