// The WhatsApp window on a list row: how long free text can still reach a customer who
// waits for us, shown once it is short ("window 42 min"), and marked when the serving
// order moved the customer ahead of older ones for it (the server decides that:
// rules/queue_order.py; it arrives as `serve_by` in `conversation.updated`). This
// module only counts down to the close it was given. Never touch the network here.
import { duration, el, fmt, ms, when } from "./util.js";

const { gettext } = window;

// A window with more left than this is not worth a chip: a normal wait ends far sooner.
const SHORT_SECONDS = 3 * 3600;

/** The chip's words now: "window 42 min", "window closed". */
export function windowText(closesAt) {
  const left = (ms(closesAt) - Date.now()) / 1000;
  return left > 0
    ? fmt(gettext("window %(left)s"), { left: duration(left) })
    : gettext("window closed");
}

/** The row's chip for a customer who waits for a reply (null: none to show). */
export function windowNode(summary) {
  const closesAt = summary.window_closes_at;
  const waits = ["waiting", "assigned"].includes(summary.state) && summary.waiting_since;
  if (!closesAt || !waits) return null;
  const ahead = summary.state === "waiting" && Boolean(summary.serve_by);
  if (!ahead && ms(closesAt) - Date.now() > SHORT_SECONDS * 1000) return null;
  return el("span", {
    class: `chip small window-chip${ahead ? " window-ahead" : ""}`,
    dataset: { windowCloses: closesAt },
    title: ahead
      ? fmt(gettext("Moved ahead of older chats: the WhatsApp window closes at %(when)s"), {
          when: when(closesAt),
        })
      : fmt(gettext("The WhatsApp window closes at %(when)s: after that only a template reaches them"), {
          when: when(closesAt),
        }),
    text: windowText(closesAt),
  });
}

/** The once-a-second tick: every window chip counts down. */
export function tickWindows() {
  for (const node of document.querySelectorAll(".window-chip[data-window-closes]")) {
    node.textContent = windowText(node.dataset.windowCloses);
  }
}
