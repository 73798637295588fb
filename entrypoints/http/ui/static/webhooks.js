// Webhooks (#/webhooks), for owners and admins: register an endpoint of the organization (its URL, the events it is
// told of, a description), see its signing secret once and copy it, disable and enable it, rotate its secret, delete
// it after a confirmation that names it, send it a test event, and read its delivery log (each event's status,
// attempts, last answer, last and next attempt), retrying a delivery by hand. Everything is a call to /webhooks.

import { LIMITS, WEBHOOKS } from "./domain.js";
import { api, ApiError } from "./api.js";
import { copySecret, focusOn, h, replace, uid } from "./dom.js";

/** The events in a person's words; a type the server names but this page does not know is shown by its name. */
export const EVENT_WORDS = {
  "agent.created": "An agent is created",
  "agent.updated": "An agent is renamed or its description changes",
  "agent.status_changed": "An agent is deactivated, reactivated or deleted",
  "version.created": "A version is saved",
  "version.compiled": "A version is compiled",
  "version.compile_failed": "A version fails to compile",
  "label.moved": "A label moves: a version goes live, is promoted or rolled back",
  "label.deleted": "A label is deleted",
  "webhook.test": "A test, sent by “Send test”",
};
const STATUS_WORDS = { pending: "Pending", delivered: "Delivered", failed: "Failed" };
const POLL_MS = 1500; // an open log with an attempt due soon is read again this often
const IDLE_MS = 10_000; // an open log with nothing due soon: a change elsewhere shows within this long
const WATCH_MS = 10 * 60_000; // an attempt due later than this is not waited for: "Refresh" reads the log then

const CLOCK = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });
const DATED = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const FULL = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });
const RELATIVE = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** A moment of the log: "14:02:33" today (to the second: attempts are seconds apart), else (or when `dated`)
 * "Apr 8, 2026, 2:02 PM"; the full moment in its title. */
function moment(iso, { dated = false } = {}) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const date = new Date(iso);
  const today = !dated && date.toDateString() === new Date().toDateString();
  return h("time", { datetime: iso, title: FULL.format(date) }, today ? CLOCK.format(date) : DATED.format(date));
}

/** "in 5 seconds", "in 4 minutes", "in 2 hours", "in 3 days". */
function fromNow(iso, now = Date.now()) {
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const units = [["day", 86400], ["hour", 3600], ["minute", 60]];
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size) return RELATIVE.format(Math.round(seconds / size), unit);
  }
  return RELATIVE.format(seconds, "second");
}

const eventTag = (type) => h("code", { class: "event-type", title: EVENT_WORDS[type] || null }, type);

/** The endpoint's state: enabled, failing (since when), disabled by a person, or by the service (and why). */
function stateOf(endpoint) {
  if (!endpoint.enabled && endpoint.disabled_reason) {
    return [h("span", { class: "badge webhook-stopped" }, "Disabled by org-agents"),
      h("span", { class: "sub reason" }, endpoint.disabled_reason)];
  }
  if (!endpoint.enabled) return h("span", { class: "badge webhook-disabled" }, "Disabled");
  if (endpoint.failing_since) {
    return [h("span", { class: "badge webhook-failing" }, "Failing"),
      h("span", { class: "sub" }, "every attempt since ", moment(endpoint.failing_since, { dated: true }),
        " failed")];
  }
  return h("span", { class: "badge webhook-enabled" }, "Enabled");
}

function field(id, label, hint, control, error) {
  return h("div", { class: "field" },
    h("label", { for: id }, label),
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null,
    error, control);
}

export class WebhooksPage {
  constructor(ctx, main, view) {
    this.ctx = ctx;
    this.main = main;
    this.view = view;
    this.cursor = null;
    this.endpoints = [];
    this.cards = new Map(); // endpoint id -> its EndpointCard, kept across reloads (an open log stays open)
  }

  get org() {
    return this.ctx.me.org_name || "your organization";
  }

  render() {
    if (!this.ctx.canManage) {
      replace(this.main, h("h1", {}, "Webhooks"),
        h("p", {}, "Webhooks are managed by the owners and admins of your organization. Ask one of them to send "
          + "the organization's changes to your service."),
        h("p", {}, h("a", { href: "#/" }, "Back to the agents")));
      this.view.done();
      return;
    }
    this.secretEl = h("section", { class: "card secret-card", "aria-labelledby": "secret-heading", hidden: true });
    this.listEl = h("section", { class: "webhooks-list", "aria-labelledby": "webhooks-heading" });
    replace(this.main,
      h("div", { class: "title-row" }, h("h1", {}, "Webhooks")),
      h("p", { class: "lead" }, `Endpoints told of the changes in ${this.org} as they happen. Each request is signed `
        + "(Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature), retried with backoff for about a "
        + "day until the receiver answers 2xx, and logged here."),
      this.secretEl,
      this.listEl,
      this.createForm());
    this.renderList();
    this.load(true).finally(() => this.view.done());
  }

  // -- create --------------------------------------------------------------------------------------------------------

  createForm() {
    const errors = {};
    const errorFor = (name) => {
      errors[name] = h("p", { class: "field-error", id: `webhook-${name}-error`, hidden: true });
      return errors[name];
    };
    const url = h("input", {
      type: "text", inputmode: "url", id: "webhook-url", required: true, maxlength: WEBHOOKS.url_chars,
      autocomplete: "off", spellcheck: "false", autocapitalize: "off", placeholder: "https address of the receiver",
      "aria-describedby": "webhook-url-hint webhook-url-error",
    });
    const boxes = WEBHOOKS.events.map((type) => {
      const id = `webhook-event-${type}`;
      return h("div", { class: "choice" },
        h("input", { type: "checkbox", id, value: type, "aria-describedby": `${id}-hint` }),
        h("label", { for: id }, h("code", {}, type)),
        h("p", { class: "hint", id: `${id}-hint` }, EVENT_WORDS[type] || ""));
    });
    const all = h("button", { type: "button", class: "small quiet" }, "Select all");
    const events = h("fieldset", {
      class: "field events", "aria-describedby": "webhook-events-hint webhook-events-error",
    },
      h("legend", {}, "Events"),
      h("p", { class: "hint", id: "webhook-events-hint" }, "What it is told of: one request per change, its body "
        + "{type, timestamp, data}. A test can be sent whatever it is told of."),
      errorFor("events"),
      h("div", { class: "event-choices" }, boxes),
      all);
    const checked = () => [...events.querySelectorAll("input[type=checkbox]:checked")].map((box) => box.value);
    all.addEventListener("click", () => {
      events.querySelectorAll("input[type=checkbox]").forEach((box) => { box.checked = true; });
    });
    const description = h("input", {
      type: "text", id: "webhook-description", maxlength: WEBHOOKS.description_chars, autocomplete: "off",
      "aria-describedby": "webhook-description-hint webhook-description-error",
    });
    const submit = h("button", { type: "submit", class: "primary" }, "Create webhook");
    const form = h("form", {
      class: "card webhook-form", novalidate: true, "aria-labelledby": "create-webhook-heading",
    },
      h("h2", { id: "create-webhook-heading" }, "Create a webhook"),
      h("div", { class: "fields" },
        field("webhook-url", "URL", "Where your receiver listens: an https address it answers POST on. Addresses of "
          + "loopback, private and link-local networks are refused unless the operator allows them.", url,
        errorFor("url")),
        field("webhook-description", "Description", "Optional: what receives it, shown in the list (“refreshes the "
          + "support bot's prompt cache”).", description, errorFor("description"))),
      events,
      h("div", { class: "actions" }, submit));

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      Object.values(errors).forEach((el) => { el.hidden = true; });
      form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
      const show = (name, message, control) => {
        replace(errors[name], message);
        errors[name].hidden = false;
        if (control) {
          control.setAttribute("aria-invalid", "true");
          control.focus();
        }
      };
      const firstBox = events.querySelector("input[type=checkbox]");
      if (!url.value.trim()) {
        show("url", "Give the address of the receiver.", url);
        return;
      }
      if (!checked().length) {
        show("events", "Choose at least one event.", null);
        events.setAttribute("aria-invalid", "true");
        firstBox.focus();
        return;
      }
      const body = { url: url.value.trim(), events: checked() };
      if (description.value.trim()) body.description = description.value.trim();
      submit.disabled = true;
      try {
        const made = await api("POST", "/webhooks", { body });
        form.reset();
        this.showSecret(made, false);
        await this.load(true);
      } catch (error) {
        const controls = { url, events: null, description };
        const problems = error instanceof ApiError ? error.errors : [];
        let shown = false;
        for (const problem of problems) {
          if (!errors[problem.field]) continue;
          show(problem.field, problem.message, controls[problem.field]);
          if (problem.field === "events") events.setAttribute("aria-invalid", "true");
          shown = true;
        }
        if (shown && error.status === 422) this.ctx.notify("The webhook was not created: see the form.", "error");
        else this.ctx.fail(error);
      } finally {
        submit.disabled = false;
      }
    });
    return form;
  }

  /** The secret, shown this once (when created, or rotated), with a Copy button; "hide" forgets it from the page. */
  showSecret(made, rotated) {
    const { webhook, secret } = made;
    const input = h("input", {
      type: "text", id: "new-secret", readonly: true, value: secret, class: "mono secret", spellcheck: "false",
      autocomplete: "off", "aria-describedby": "secret-warning",
    });
    const stored = "Store it where the receiver reads it.";
    const copy = h("button", { type: "button", class: "primary",
      onclick: () => copySecret(input, copy, this.ctx.notify, stored) },
      "Copy secret");
    const done = h("button", {
      type: "button",
      onclick: () => {
        input.value = "";
        this.secretEl.hidden = true;
        this.secretEl.replaceChildren();
        const card = this.cards.get(webhook.id);
        focusOn(card && card.element.isConnected ? card.heading : document.getElementById("webhooks-heading"));
      },
    }, "I have stored it: hide the secret");
    replace(this.secretEl,
      h("h2", { id: "secret-heading" }, rotated ? "New signing secret" : "Webhook created"),
      h("p", { class: "mono target" }, webhook.url),
      h("p", { class: "banner warn", id: "secret-warning" },
        h("strong", {}, "Copy the secret now: you will not see it again. "),
        rotated
          ? `For ${WEBHOOKS.rotation_grace_hours} hours every request is signed by both the new secret and the old `
            + "one, so switch the receiver to this one within that time."
          : "Give it to the receiver: it checks each request's webhook-signature with it. If it is lost, rotate "
            + "the secret."),
      h("div", { class: "field" },
        h("label", { for: "new-secret" }, "Signing secret"),
        h("div", { class: "inline" }, input, copy)),
      h("p", { class: "note" }, "A receiver verifies a request with any Standard Webhooks library, for instance in "
        + "Python ", h("code", {}, "Webhook(secret).verify(body, headers)"), " (package standardwebhooks)."),
      h("div", { class: "actions" }, done));
    this.secretEl.hidden = false;
    this.secretEl.scrollIntoView({ block: "start" });
    focusOn(document.getElementById("secret-heading"));
    this.ctx.notify(rotated ? "New secret made. Copy it now: it is shown only this once."
      : "Webhook created. Copy its secret now: it is shown only this once.");
  }

  // -- the endpoints -------------------------------------------------------------------------------------------------

  async load(fresh) {
    const shown = this.endpoints.length;
    try {
      const query = { limit: LIMITS.page_size, cursor: fresh ? null : this.cursor };
      const page = await api("GET", "/webhooks", { query });
      if (!this.view.isCurrent()) return;
      this.endpoints = fresh ? page.items : [...this.endpoints, ...page.items];
      this.cursor = page.next_cursor;
      this.renderList();
      if (!fresh) focusOn(this.listEl.querySelectorAll("section.webhook h3")[shown]);
    } catch (error) {
      if (this.view.isCurrent()) this.ctx.fail(error);
    }
  }

  renderList() {
    const ids = new Set(this.endpoints.map((e) => e.id));
    for (const [id, card] of this.cards) {
      if (!ids.has(id)) {
        card.log.close();
        this.cards.delete(id);
      }
    }
    const cards = this.endpoints.map((endpoint) => {
      let card = this.cards.get(endpoint.id);
      if (card) card.update(endpoint);
      else {
        card = new EndpointCard(this, endpoint);
        this.cards.set(endpoint.id, card);
      }
      return card.element;
    });
    replace(this.listEl,
      h("h2", { id: "webhooks-heading" }, "Endpoints"),
      this.endpoints.length
        ? h("div", { class: "webhooks" }, cards)
        : h("p", { class: "empty" }, "No webhooks yet. Create one below: give the address of your receiver."),
      this.cursor ? h("button", { type: "button", onclick: () => this.load(false) }, "Show more webhooks") : null);
  }

  /** An endpoint changed on the server (enabled, disabled, its secret rotated, its failures): show it so. */
  replaceEndpoint(endpoint) {
    this.endpoints = this.endpoints.map((e) => (e.id === endpoint.id ? endpoint : e));
    const card = this.cards.get(endpoint.id);
    if (card) card.update(endpoint);
  }

  async remove(endpoint, button) {
    const ok = await this.ctx.confirm({
      title: "Delete this webhook?",
      body: [
        h("p", { class: "mono target" }, endpoint.url),
        endpoint.description ? h("p", { class: "description" }, endpoint.description) : null,
        "Nothing more is sent to it, and its delivery log is deleted with it. This cannot be undone: to send "
          + "events there again, create a new webhook (it gets a new secret).",
      ].filter(Boolean),
      confirm: "Delete webhook",
      danger: true,
    });
    if (!ok) return;
    button.disabled = true;
    try {
      await api("DELETE", `/webhooks/${endpoint.id}`);
      this.ctx.notify(`The webhook to ${endpoint.url} is deleted.`);
      await this.load(true);
      focusOn(document.getElementById("webhooks-heading"));
    } catch (error) {
      button.disabled = false;
      this.ctx.fail(error);
    }
  }

  async setEnabled(endpoint, enabled, button) {
    button.disabled = true;
    try {
      const changed = await api("PATCH", `/webhooks/${endpoint.id}`, { body: { enabled } });
      this.replaceEndpoint(changed);
      this.ctx.notify(enabled
        ? `The webhook to ${changed.url} is enabled: changes are sent to it again, its waiting deliveries first.`
        : `The webhook to ${changed.url} is disabled: nothing is sent to it and changes are not queued for it until `
          + "it is enabled again.");
      this.cards.get(changed.id)?.focusControl("toggle");
    } catch (error) {
      this.ctx.fail(error);
    } finally {
      button.disabled = false;
    }
  }

  async rotate(endpoint, button) {
    const ok = await this.ctx.confirm({
      title: "Rotate the signing secret?",
      body: [
        h("p", { class: "mono target" }, endpoint.url),
        "A new secret is made and shown once. For "
          + `${WEBHOOKS.rotation_grace_hours} hours every request carries two signatures, by the new secret and the `
          + "old one, so the receiver can switch without missing a request; then only the new one signs.",
      ],
      confirm: "Rotate secret",
    });
    if (!ok) return;
    button.disabled = true;
    try {
      const made = await api("POST", `/webhooks/${endpoint.id}/rotate-secret`);
      this.replaceEndpoint(made.webhook);
      this.showSecret(made, true);
    } catch (error) {
      this.ctx.fail(error);
    } finally {
      button.disabled = false;
    }
  }

  async sendTest(endpoint, button) {
    button.disabled = true;
    try {
      await api("POST", `/webhooks/${endpoint.id}/test`);
      this.ctx.notify(`A test event is on its way to ${endpoint.url}: its delivery shows in the log.`);
      const card = this.cards.get(endpoint.id);
      if (card) await card.log.show();
    } catch (error) {
      this.ctx.fail(error);
    } finally {
      button.disabled = false;
    }
  }
}

// -- one endpoint, and its delivery log ------------------------------------------------------------------------------

class EndpointCard {
  constructor(page, endpoint) {
    this.page = page;
    this.endpoint = endpoint;
    const id = uid("webhook");
    this.heading = h("h3", { id: `${id}-heading`, class: "mono" });
    this.state = h("div", { class: "state" });
    this.facts = h("dl", { class: "facts" });
    this.description = h("p", { class: "description" });
    this.buttons = h("div", { class: "actions" });
    this.log = new DeliveryLog(page, this, `${id}-log`);
    this.element = h("section", { class: "card webhook", "aria-labelledby": `${id}-heading` },
      h("div", { class: "title-row" }, this.heading, this.state),
      this.description, this.facts, this.buttons, this.log.element);
    this.update(endpoint);
  }

  update(endpoint) {
    this.endpoint = endpoint;
    replace(this.heading, endpoint.url);
    replace(this.state, stateOf(endpoint));
    this.description.hidden = !endpoint.description;
    replace(this.description, endpoint.description || "");
    replace(this.facts,
      h("div", { class: "wide" }, h("dt", {}, "Events"),
        h("dd", {}, h("ul", { class: "event-types" }, endpoint.events.map((type) => h("li", {}, eventTag(type)))))),
      h("div", {}, h("dt", {}, "Created"), h("dd", {}, moment(endpoint.created_at, { dated: true }))));
    const label = (text) => [text, h("span", { class: "visually-hidden" }, ` ${endpoint.url}`)];
    const focused = this.buttons.contains(document.activeElement) ? document.activeElement.dataset.control : null;
    replace(this.buttons,
      h("button", { type: "button", class: "primary small", "data-control": "test",
        onclick: (e) => this.page.sendTest(this.endpoint, e.currentTarget) }, label("Send test")),
      this.log.toggle,
      h("button", { type: "button", class: "small", "data-control": "toggle",
        onclick: (e) => this.page.setEnabled(this.endpoint, !this.endpoint.enabled, e.currentTarget) },
      label(endpoint.enabled ? "Disable" : "Enable")),
      h("button", { type: "button", class: "small", "data-control": "rotate",
        onclick: (e) => this.page.rotate(this.endpoint, e.currentTarget) }, label("Rotate secret")),
      h("button", { type: "button", class: "small danger", "data-control": "delete",
        onclick: (e) => this.page.remove(this.endpoint, e.currentTarget) }, label("Delete")));
    if (focused) this.focusControl(focused);
  }

  focusControl(name) {
    const button = this.buttons.querySelector(`[data-control="${name}"]`);
    if (button) button.focus();
  }
}

class DeliveryLog {
  constructor(page, card, id) {
    this.page = page;
    this.card = card;
    this.items = [];
    this.cursor = null;
    this.timer = null;
    this.openResponses = new Set(); // deliveries whose answer is unfolded: a refresh keeps them so
    this.toggle = h("button", { type: "button", class: "small", "aria-expanded": "false", "aria-controls": id,
      "data-control": "log", onclick: () => (this.isOpen ? this.close() : this.show()) }, "Delivery log");
    this.summary = h("p", { class: "note log-summary", "aria-live": "polite" });
    this.body = h("div", { class: "log-body" });
    this.more = h("button", { type: "button", class: "small", hidden: true, onclick: () => this.load(false) },
      "Show older deliveries");
    this.refresh = h("button", { type: "button", class: "small quiet", onclick: () => this.load(true) }, "Refresh");
    this.element = h("section", { class: "delivery-log", id, hidden: true, "aria-labelledby": `${id}-heading` },
      h("div", { class: "title-row" }, h("h4", { id: `${id}-heading` }, "Delivery log"), this.refresh),
      this.summary, this.body, this.more);
  }

  get isOpen() {
    return !this.element.hidden;
  }

  async show() {
    this.element.hidden = false;
    this.toggle.setAttribute("aria-expanded", "true");
    replace(this.toggle, "Hide the delivery log");
    await this.load(true);
  }

  close() {
    this.element.hidden = true;
    this.toggle.setAttribute("aria-expanded", "false");
    replace(this.toggle, "Delivery log");
    clearTimeout(this.timer);
    this.timer = null;
  }

  get live() {
    return this.isOpen && this.page.view.isCurrent() && this.element.isConnected;
  }

  /** Reads the log (again, from the newest: as many as are shown; or the next older page) and the endpoint with it,
   * whose failures the deliveries change. */
  async load(fresh) {
    clearTimeout(this.timer);
    this.timer = null;
    const endpoint = this.card.endpoint;
    this.body.setAttribute("aria-busy", "true");
    try {
      const limit = fresh ? Math.min(LIMITS.max_page_size, Math.max(LIMITS.page_size, this.items.length))
        : LIMITS.page_size;
      const [page, current] = await Promise.all([
        api("GET", `/webhooks/${endpoint.id}/deliveries`, { query: { limit, cursor: fresh ? null : this.cursor } }),
        fresh ? api("GET", `/webhooks/${endpoint.id}`) : null,
      ]);
      if (!this.page.view.isCurrent()) return;
      const shown = this.items.length;
      this.items = fresh ? page.items : [...this.items, ...page.items];
      this.cursor = page.next_cursor;
      if (current) this.page.replaceEndpoint(current);
      this.render();
      if (!fresh) focusOn(this.body.querySelectorAll("tbody tr")[shown]?.querySelector("th"));
      this.schedule();
    } catch (error) {
      if (!this.page.view.isCurrent()) return;
      if (error instanceof ApiError && error.status === 404) {
        this.page.ctx.notify(`The webhook to ${endpoint.url} is no longer there: it was deleted.`, "error");
        this.page.load(true);
        return;
      }
      this.page.ctx.fail(error); // no more reading by itself: "Refresh" tries again
    } finally {
      this.body.removeAttribute("aria-busy");
    }
  }

  /** While the log is open it keeps itself current: soon after an attempt is due, else every few seconds. */
  schedule() {
    if (!this.live) return;
    const now = Date.now();
    const waits = this.items.filter((d) => d.status === "pending")
      .map((d) => (d.next_attempt_at ? new Date(d.next_attempt_at).getTime() - now : 0))
      .filter((wait) => wait < WATCH_MS);
    const wait = waits.length ? Math.min(Math.max(POLL_MS, Math.min(...waits) + 500), IDLE_MS) : IDLE_MS;
    this.timer = setTimeout(() => {
      if (this.live) this.load(true);
    }, wait);
  }

  render() {
    const active = document.activeElement;
    const row = active && this.body.contains(active) ? active.closest("tr") : null;
    const again = row ? [row.dataset.delivery, active.dataset.control] : null;
    const now = Date.now();
    const rows = this.items.map((delivery) => this.row(delivery, now));
    const url = this.card.endpoint.url;
    replace(this.body, this.items.length
      ? h("table", { class: "deliveries responsive" },
        h("caption", { class: "visually-hidden" }, `Deliveries to ${url}, newest first`),
        h("thead", {}, h("tr", {},
          ["Event", "Status", "Attempts", "Last answer", "Last attempt", "Next attempt"]
            .map((title) => h("th", { scope: "col" }, title)),
          h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Retry")))),
        h("tbody", {}, rows))
      : h("p", { class: "empty" }, "Nothing sent yet. “Send test” sends a test event now."));
    const counts = { pending: 0, delivered: 0, failed: 0 };
    this.items.forEach((d) => { counts[d.status] = (counts[d.status] || 0) + 1; });
    const parts = Object.entries(counts).filter(([, n]) => n).map(([status, n]) => `${n} ${status}`);
    const n = this.items.length;
    const text = n ? `${n} ${n === 1 ? "delivery" : "deliveries"}${this.cursor ? " shown (older ones on request)" : ""}`
      + `: ${parts.join(", ")}. Newest first; times in your time zone.`
      : "";
    if (this.summary.textContent !== text) replace(this.summary, text); // the live region speaks only of changes
    this.more.hidden = !this.cursor;
    if (again) {
      const control = this.body.querySelector(`tr[data-delivery="${again[0]}"] [data-control="${again[1]}"]`);
      if (control) control.focus();
    }
  }

  row(delivery, now) {
    const { status } = delivery;
    let answer = h("span", { class: "muted" }, "Not tried yet");
    if (delivery.last_status_code) {
      const ok = delivery.last_status_code >= 200 && delivery.last_status_code < 300;
      answer = h("span", { class: ok ? "http ok" : "http bad" }, `HTTP ${delivery.last_status_code}`);
    } else if (delivery.last_error) {
      answer = h("span", { class: "error" }, delivery.last_error);
    }
    let response = null;
    if (delivery.last_response) {
      const details = h("details", { class: "response", open: this.openResponses.has(delivery.id) },
        h("summary", { "data-control": "response" }, "What it answered"),
        h("pre", { class: "code" }, delivery.last_response));
      details.addEventListener("toggle", () => {
        if (details.open) this.openResponses.add(delivery.id);
        else this.openResponses.delete(delivery.id);
      });
      response = details;
    }
    let next = h("span", { class: "muted" }, "—");
    if (status === "pending" && delivery.next_attempt_at) {
      next = new Date(delivery.next_attempt_at).getTime() <= now ? "Due now"
        : [moment(delivery.next_attempt_at), h("span", { class: "sub" }, fromNow(delivery.next_attempt_at, now))];
    } else if (status === "failed") {
      next = h("span", { class: "muted" }, "None: it gave up");
    }
    const attempts = status === "delivered" ? String(delivery.attempts)
      : `${delivery.attempts} of ${WEBHOOKS.max_attempts}`;
    const retryWords = {
      pending: "Send it now, without waiting for the next attempt.",
      failed: "Send it again, with a new schedule of attempts.",
      delivered: "Send it again, with the same webhook-id: receivers that deduplicate ignore it.",
    };
    const when = new Date(delivery.created_at);
    return h("tr", { "data-delivery": delivery.id, class: `delivery-${status}` },
      h("th", { scope: "row", "data-label": "Event" },
        eventTag(delivery.event_type),
        h("span", { class: "sub" }, "queued ", moment(delivery.created_at)),
        h("span", { class: "sub mono", title: "its webhook-id header, the same on every attempt" },
          `id ${delivery.event_id}`)),
      h("td", { "data-label": "Status" }, h("span", { class: `badge delivery-${status}` }, STATUS_WORDS[status]
        || status)),
      h("td", { "data-label": "Attempts" }, attempts),
      h("td", { "data-label": "Last answer" }, answer, response),
      h("td", { "data-label": "Last attempt" }, moment(delivery.last_attempt_at)),
      h("td", { "data-label": "Next attempt" }, next),
      h("td", { "data-label": "", class: "delivery-actions" },
        h("button", { type: "button", class: "small", "data-control": "retry", title: retryWords[status] || null,
          onclick: (e) => this.retry(delivery, e.currentTarget) },
        "Retry", h("span", { class: "visually-hidden" }, ` ${delivery.event_type} queued ${CLOCK.format(when)}`))));
  }

  async retry(delivery, button) {
    button.disabled = true;
    try {
      await api("POST", `/webhooks/${this.card.endpoint.id}/deliveries/${delivery.id}/retry`);
      this.page.ctx.notify(`The ${delivery.event_type} event is queued to be sent again now.`);
      await this.load(true);
    } catch (error) {
      button.disabled = false;
      this.page.ctx.fail(error);
    }
  }
}
