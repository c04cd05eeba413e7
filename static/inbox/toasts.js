// Messages to the agent: short toasts, and the one way a failed request is told.
// Never decide anything about a conversation here: an answer that carries the
// conversation's newer state (a 409) goes to the handler the entry point registers.
import { ApiError } from "./api.js";
import { $, el } from "./util.js";

const { gettext } = window;

let onConflict = () => {};

/**
 * What to do with a 409's body ({conversation}, {message}) before it is told:
 * the entry point passes live.js and transcript.js's appliers, which import this
 * module themselves.
 */
export function handleConflicts(handler) {
  onConflict = handler;
}

export function reportError(error) {
  if (error instanceof ApiError) {
    if (error.status === 409) onConflict(error.body);
    const fields = error.body.fields ? Object.values(error.body.fields).join(" ") : "";
    toast([error.message, fields].filter(Boolean).join(" "), "error");
  } else if (error) {
    toast(gettext("The server could not be reached. Try again."), "error");
  }
}

export function toast(text, kind = "info") {
  const node = el("div", { class: `toast toast-${kind}`, role: "alert", text });
  $("toasts").append(node);
  setTimeout(() => node.remove(), 6000);
}
