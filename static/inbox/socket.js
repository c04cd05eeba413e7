// The inbox socket (docs/websocket.md): reconnects with backoff and jitter, resumes
// with ?after=<last applied seq>, and applies each numbered event exactly once.

/**
 * Which event numbers have been applied. Events are published after their
 * transaction commits, so two can arrive out of order: a number skipped over is
 * remembered as missing for a while, accepted if it turns up, and the socket
 * resumes from before it so a reconnect fetches it too.
 */
export class SeqTracker {
  constructor(gapMs = 10000) {
    this.high = null;
    this.missing = new Map();
    this.gapMs = gapMs;
  }

  start(seq) {
    this.high = seq;
    this.missing.clear();
  }

  /** True the first time a number is seen, false for any repeat. */
  accept(seq) {
    if (this.high === null) {
      this.high = seq;
      return true;
    }
    if (seq > this.high) {
      const now = Date.now();
      for (let s = Math.max(this.high + 1, seq - 200); s < seq; s += 1) this.missing.set(s, now);
      this.high = seq;
      return true;
    }
    return this.missing.delete(seq);
  }

  resumeAfter() {
    const cutoff = Date.now() - this.gapMs;
    let after = this.high;
    for (const [seq, since] of this.missing) {
      if (since < cutoff) this.missing.delete(seq);
      else after = Math.min(after, seq - 1);
    }
    return after;
  }
}

const PING_MS = 25000;
const MAX_DELAY_MS = 30000;
// Close codes after which reconnecting cannot help (docs/websocket.md).
const CLOSE_ANONYMOUS = 4401;
const CLOSE_NOT_AN_AGENT = 4403;
const CLOSE_SIGNED_OUT = 4410;

export class InboxSocket {
  constructor(handlers) {
    this.handlers = handlers; // onHello(frame, first), onEvent, onNotice, onResync, onStatus, viewing(), listing()
    this.tracker = new SeqTracker();
    this.ws = null;
    this.attempt = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.retryAt = null;
    this.stopped = false; // the server ended this session: never reconnect
  }

  url() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    // Events that pile up on a busy server come as one frame, a JSON array; the tabs'
    // counts come as `counts` notices, read on the server once for every agent.
    const query = new URLSearchParams({ pack: "1", counts: "1" });
    if (this.tracker.high !== null) query.set("after", this.tracker.resumeAfter());
    // The open conversation's own events (a reply's delivery, a note) are sent only
    // to the sockets viewing it: say so from the start, not only after the hello.
    const viewing = this.handlers.viewing ? this.handlers.viewing() : null;
    if (viewing) query.set("viewing", viewing);
    // The list the page shows: the rows of other lists are not sent to it, but for
    // its agent's own and waiting conversations.
    const listing = this.handlers.listing ? this.handlers.listing() : null;
    if (listing) query.set("listing", listing);
    return `${scheme}//${window.location.host}/ws/inbox/?${query}`;
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.ws || this.stopped) return;
    const ws = new WebSocket(this.url());
    this.ws = ws;
    this.status("connecting");
    ws.addEventListener("message", (message) => {
      let data;
      try {
        data = JSON.parse(message.data);
      } catch {
        return;
      }
      for (const frame of Array.isArray(data) ? data : [data]) this.frame(frame);
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearInterval(this.pingTimer);
      if (event.code === CLOSE_ANONYMOUS) {
        this.stopped = true;
        window.location.assign("/accounts/login/?next=/");
        return;
      }
      if (event.code === CLOSE_NOT_AN_AGENT) {
        this.stopped = true;
        this.status("forbidden");
        return;
      }
      if (event.code === CLOSE_SIGNED_OUT) {
        // Access ended while connected (deactivated, no longer an agent, password
        // changed, deleted, signed out elsewhere): say so instead of retrying.
        this.stopped = true;
        this.status("signed-out");
        return;
      }
      this.schedule();
    });
  }

  /** Reconnect now (the "Reconnect now" button, or the browser coming back online). */
  reconnectNow() {
    if (this.ws || this.stopped) return;
    this.attempt = 0;
    this.connect();
  }

  /** Drop the connection as if the network had (used when the page must resync). */
  drop() {
    if (this.ws) this.ws.close();
  }

  schedule() {
    // 1 s, 2 s, 4 s ... at most 30 s, each between 80 % and 120 % (jitter), so that
    // a hundred browsers do not all come back in the same instant after a restart.
    const base = Math.min(MAX_DELAY_MS, 1000 * 2 ** this.attempt);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.attempt += 1;
    this.retryAt = Date.now() + delay;
    this.status("offline");
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  frame(frame) {
    switch (frame.type) {
      case "hello": {
        // The server's newest number below ours means its event feed was replaced
        // (a restored database): nothing we hold is comparable, start afresh.
        const stale = this.tracker.high !== null && frame.seq < this.tracker.resumeAfter();
        const first = this.tracker.high === null || stale;
        if (first) this.tracker.start(frame.seq);
        this.attempt = 0;
        this.retryAt = null;
        clearInterval(this.pingTimer);
        this.pingTimer = setInterval(() => this.send({ type: "ping" }), PING_MS);
        this.status("online");
        this.handlers.onHello(frame, first);
        break;
      }
      case "caught_up":
        this.status("online");
        break;
      case "resync":
        // Too much was missed to replay: start again from the newest number and
        // reload everything through the API.
        this.tracker.start(frame.seq);
        this.handlers.onResync();
        break;
      case "pong":
      case "error":
        break;
      default:
        if (typeof frame.seq === "number") {
          if (this.tracker.accept(frame.seq)) this.handlers.onEvent(frame);
        } else {
          this.handlers.onNotice(frame);
        }
    }
  }

  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  status(value) {
    this.handlers.onStatus(value, this.retryAt);
  }
}
