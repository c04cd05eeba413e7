// Small helpers shared by the inbox modules. Nothing here ever parses HTML:
// every piece of text goes into the page as a text node.

const { gettext, interpolate } = window;

/** The page's element with this id. */
export const $ = (id) => document.getElementById(id);

/** A translated string with %(name)s placeholders filled in. */
export function fmt(translated, values) {
  return interpolate(translated, values, true);
}

/** Build an element. Children that are not nodes become text nodes (never HTML). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function ms(iso) {
  return iso ? Date.parse(iso) : 0;
}

/** "45 s", "12 min", "3 h 05 min", "2 d 4 h": short enough for a list row. */
export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return fmt(gettext("%(s)s s"), { s });
  const m = Math.floor(s / 60);
  if (m < 60) return fmt(gettext("%(m)s min"), { m });
  const h = Math.floor(m / 60);
  if (h < 24) return fmt(gettext("%(h)s h %(m)s min"), { h, m: String(m % 60).padStart(2, "0") });
  return fmt(gettext("%(d)s d %(h)s h"), { d: Math.floor(h / 24), h: h % 24 });
}

const lang = document.documentElement.lang || undefined;
const timeFormat = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit" });
const dateTimeFormat = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });

const weekdayTimeFormat = new Intl.DateTimeFormat(lang, {
  weekday: "short",
  hour: "numeric",
  minute: "2-digit",
  hourCycle: "h23",
});
const dateTimeShortFormat = new Intl.DateTimeFormat(lang, {
  weekday: "short",
  month: "short",
  day: "numeric",
  hour: "numeric",
  minute: "2-digit",
  hourCycle: "h23",
});

/** A coming moment as "Mon 9:00" within the week, with the date after that. */
export function upcoming(iso) {
  const date = new Date(iso);
  const withinWeek = date.getTime() - Date.now() < 6 * 24 * 3600 * 1000;
  return (withinWeek ? weekdayTimeFormat : dateTimeShortFormat).format(date);
}

/** A time of day for today's items, a date and time for older ones. */
export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  const today = new Date();
  return date.toDateString() === today.toDateString()
    ? timeFormat.format(date)
    : dateTimeFormat.format(date);
}

export function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return "";
}

/**
 * Call fn at most once per `wait` ms, and always once more after the last call, so
 * that a steady stream of calls still runs it (a debounce would wait for a pause
 * that a busy inbox never has).
 */
export function throttle(fn, wait) {
  let timer = null;
  let last = 0;
  return () => {
    if (timer) return;
    const delay = Math.max(0, last + wait - Date.now());
    timer = setTimeout(() => {
      timer = null;
      last = Date.now();
      fn();
    }, delay);
  };
}

/** Call fn once the calls have stopped for `wait` ms (typing in a search box). */
export function debounce(fn, wait) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), wait);
  };
}

/** Characters as WhatsApp and the API count them (code points, not UTF-16 units). */
export function charCount(text) {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}
