// The inbox's one socket (socket.js does the protocol) and the banner that tells the
// agent how it is doing. Modules send through `socket`; what its frames do is
// registered by the entry point. Never handle an event's content here.
import { InboxSocket } from "./socket.js";
import { app } from "./state.js";
import { $, fmt } from "./util.js";

const { gettext } = window;

// Filled in by connect(): the handlers live in modules that import this one.
const handlers = {};

export const socket = new InboxSocket({
  onHello: (frame, first) => handlers.onHello(frame, first),
  onResync: () => handlers.onResync(),
  onEvent: (frame) => handlers.onEvent(frame),
  onNotice: (frame) => handlers.onNotice(frame),
  viewing: () => (handlers.viewing ? handlers.viewing() : null),
  listing: () => (handlers.listing ? handlers.listing() : null),
  onStatus: renderConnection,
});

/** Start the socket with the inbox's onHello, onResync, onEvent, onNotice, viewing and
 * listing. */
export function connect(inboxHandlers) {
  Object.assign(handlers, inboxHandlers);
  socket.connect();
}

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
