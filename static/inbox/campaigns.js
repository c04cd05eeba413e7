// Sending a Braze campaign from the open conversation: the dialog, its property
// fields and their errors. Whether a campaign may be sent at all is rules.js's
// answer; never send plain text here (composer.js does).
import { api, ApiError } from "./api.js";
import { renderComposerState, updateCounter } from "./composer.js";
import { applyConversation } from "./live.js";
import { campaignBlocked, windowLeft } from "./rules.js";
import { state } from "./state.js";
import { reportError, toast } from "./toasts.js";
import { upsertMessage } from "./transcript.js";
import { $, el, fmt } from "./util.js";

const { gettext } = window;

// The conversation the dialog was opened for, and what was typed in its fields.
const campaignForm = { conversationId: null, values: {} };

export async function loadCampaigns() {
  try {
    state.campaigns = (await api("GET", "/api/campaigns/")).campaigns || [];
  } catch (error) {
    reportError(error);
  }
  if (state.detail) renderComposerState();
}

export function campaignDialogOpen() {
  return $("campaign-dialog").open;
}

function chosenCampaign() {
  return state.campaigns.find((c) => c.key === $("campaign-select").value) || null;
}

/** The dialog, on `key` with `properties` filled in when a canned reply asks for it. */
export function openCampaignDialog(key, properties = {}) {
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

export function renderCampaignForm({ fresh = false } = {}) {
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

export async function sendCampaign() {
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
