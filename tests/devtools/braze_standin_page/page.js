// The Braze stand-in's page: phone chats of what handoff sent through Braze, and a
// customer simulator that posts to handoff's webhook through the stand-in.
// Development only (see tests/devtools/braze_standin.py). Message text comes from
// customers and bots: it is only ever set with textContent, never parsed as markup.
const SEND_PATH = "/campaigns/trigger/send";
const INBOUND_PATH = "/_standin/inbound";
// The settings' reply campaign (null: unknown, so every send shows its campaign).
const REPLY_CAMPAIGN = document.body.dataset.replyCampaign ?? null;
const chats = document.getElementById("chats");
const empty = document.getElementById("empty");
const behaviourLabel = document.getElementById("behaviour");
const form = document.getElementById("simulator");
const result = document.getElementById("result");
let lastSeen = null;

function element(tag, className, text) {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function show(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function propertiesText(properties) {
  const entries = Object.entries(properties);
  if (entries.length === 1) return show(entries[0][1]);
  return entries.map(([key, value]) => key + ": " + show(value)).join("\n");
}

function campaignText(properties) {
  const entries = Object.entries(properties);
  if (!entries.length) return "(no trigger properties)";
  return entries.map(([key, value]) => key + ": " + show(value)).join("\n");
}

function recipientName(recipient) {
  return recipient.external_user_id || recipient.email || "alias " + show(recipient.user_alias);
}

function chatEntries(records) {
  const entries = [];
  for (const record of records) {
    const accepted = record.status >= 200 && record.status < 300;
    if (record.path === SEND_PATH && accepted) {
      const shared = record.body.trigger_properties || {};
      for (const recipient of record.body.recipients) {
        const properties = Object.assign({}, shared, recipient.trigger_properties || {});
        const campaign = String(record.body.campaign_id);
        const other = REPLY_CAMPAIGN === null || campaign !== REPLY_CAMPAIGN;
        const text = other ? campaignText(properties) : propertiesText(properties);
        entries.push({user: recipientName(recipient), side: "bot", at: record.at,
                      text: text, problem: "", campaign: other ? campaign : ""});
      }
    } else if (record.path === INBOUND_PATH && record.body && record.body.user_id) {
      const delivered = record.forwarded_status >= 200 && record.forwarded_status < 300;
      const answered = record.forwarded_status || record.status;
      const problem = delivered ? "" : "not delivered (" + answered + ")";
      entries.push({user: String(record.body.user_id), side: "customer", at: record.at,
                    text: show(record.body.message), problem: problem});
    }
  }
  return entries;
}

function render(records) {
  const groups = new Map();
  for (const entry of chatEntries(records)) {
    if (!groups.has(entry.user)) groups.set(entry.user, []);
    groups.get(entry.user).push(entry);
  }
  const threads = [];
  const phones = [];
  for (const [user, entries] of groups) {
    const phone = element("article", "phone");
    const thread = element("div", "thread");
    phone.append(element("h3", "", user), thread);
    for (const entry of entries) {
      const classes = "bubble " + entry.side + (entry.problem ? " failed" : "") +
        (entry.campaign ? " campaign" : "");
      const bubble = element("div", classes);
      if (entry.campaign) bubble.append(element("span", "tag", "campaign " + entry.campaign));
      bubble.append(document.createTextNode(entry.text));
      const when = new Date(entry.at * 1000).toLocaleTimeString();
      bubble.append(element("span", "meta", entry.problem ? when + " - " + entry.problem : when));
      thread.append(bubble);
    }
    threads.push(thread);
    phones.push(phone);
  }
  chats.replaceChildren(...phones);
  for (const thread of threads) thread.scrollTop = thread.scrollHeight;
  empty.hidden = phones.length > 0;
}

function showBehaviour(behaviour) {
  let text = behaviour.mode;
  if (behaviour.remaining !== null) text += ", " + behaviour.remaining + " request(s) left";
  if (behaviour.seconds_left !== null) text += ", " + Math.ceil(behaviour.seconds_left) + " s left";
  behaviourLabel.textContent = text;
}

function renderProfiles(profiles) {
  const users = Object.keys(profiles).sort();
  const box = document.getElementById("profiles");
  if (!users.length) { box.textContent = "None yet."; return; }
  box.replaceChildren(...users.map((user) => {
    const line = element("div", "", "");
    line.append(element("strong", "", user + ": "));
    const pairs = Object.entries(profiles[user]).map(([name, value]) => name + "=" + show(value));
    line.append(document.createTextNode(pairs.join(", ")));
    return line;
  }));
}

async function refresh() {
  try {
    const [requests, behaviour, profiles] = await Promise.all(
      [fetch("/_standin/requests"), fetch("/_standin/behaviour"), fetch("/_standin/profiles")]);
    renderProfiles(await profiles.json());
    const records = await requests.json();
    const last = records[records.length - 1];
    const signature = records.length + ":" + (last ? last.monotonic : "");
    if (signature !== lastSeen) {
      lastSeen = signature;
      render(records);
    }
    showBehaviour(await behaviour.json());
  } catch (error) {
    behaviourLabel.textContent = "stand-in unreachable";
  }
}

async function post(path, body) {
  return fetch(path, {method: "POST", headers: {"Content-Type": "application/json"},
                      body: JSON.stringify(body)});
}

for (const button of document.querySelectorAll("button[data-mode]")) {
  button.addEventListener("click", async () => {
    await post("/_standin/behaviour", {mode: button.dataset.mode});
    refresh();
  });
}

document.getElementById("clear").addEventListener("click", async () => {
  await fetch("/_standin/requests", {method: "DELETE"});
  refresh();
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  result.textContent = "Sending...";
  try {
    const response = await post(INBOUND_PATH, Object.fromEntries(new FormData(form)));
    const answer = await response.json();
    if (response.ok) {
      result.textContent = "Webhook answered " + answer.status + ": " + show(answer.body);
      form.elements.message.value = "";
    } else {
      result.textContent = "Not forwarded (" + response.status + "): " + answer.message;
    }
  } catch (error) {
    result.textContent = "Not forwarded: " + error;
  }
  refresh();
});

refresh();
setInterval(refresh, 2000);
