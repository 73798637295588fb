// Activity, the audit trail as a person reads it: one sentence per event ("ana rolled back production from version 3
// to version 2 · 14:02"), newest first, grouped by day in the reader's time zone, older events on request. Used by
// the organization's view (#/activity, owners and admins, with filters by action, person and time) and by the agent
// page's Activity section (anyone of the organization; that agent's own events, its versions' and labels').

import { ACTIVITY, LABELS, LIMITS, TOKENS, WEBHOOKS } from "./domain.js";
import { api, ApiError } from "./api.js";
import { focusOn, h, replace } from "./dom.js";
import { labelBadge } from "./labels.js";

const { production: PRODUCTION, latest: LATEST } = LABELS;
const NOTE_CHARS = 160; // a change note longer than this is cut in the sentence; the whole note is its title
const AGENT_PAGE_SIZE = 10; // the agent page shows a short feed; the organization's view a full page

const CLOCK = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });
const DAY = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });
const FULL = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });
const DATE = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });

/** The actions in a person's words, for the filter's menu; an action the server names but this page does not know
 * is offered under its own name. */
export const ACTION_WORDS = {
  "agent.create": "Agent created",
  "agent.update": "Agent renamed or described",
  "agent.activate": "Agent reactivated",
  "agent.deactivate": "Agent deactivated",
  "agent.delete": "Agent deleted",
  "agent.import": "Agent imported from the old system",
  "blueprint.create": "Version created",
  "blueprint.compile": "Version compiled",
  "blueprint.compile_failed": "Version failed to compile",
  "blueprint.activate": "Version activated (before labels existed)",
  "label.move": "Label moved, promoted or rolled back",
  "label.delete": "Label deleted",
  "label.protect": "Label protected or unprotected",
  "token.create": "Key created",
  "token.revoke": "Key revoked",
  "webhook.create": "Webhook created",
  "webhook.update": "Webhook changed, disabled or enabled",
  "webhook.delete": "Webhook deleted",
  "webhook.rotate_secret": "Webhook secret rotated",
  "webhook.disable": "Webhook disabled by org-agents (it kept failing)",
};
const GROUPS = { agent: "Agents", blueprint: "Versions", label: "Labels", token: "Keys", webhook: "Webhooks" };

// -- one event, one sentence ---------------------------------------------------------------------------------------

const actor = (name) => h("strong", { class: "actor" }, name);
const quoted = (text) => ["“", text, "”"];
const article = (word) => (/^[aeiou]/i.test(word) ? `an ${word}` : `a ${word}`);
const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);

function cut(text) {
  const chars = [...text];
  return chars.length > NOTE_CHARS ? `${chars.slice(0, NOTE_CHARS - 1).join("").trimEnd()}…` : text;
}

/** What the sentences of one event may refer to: the agent (a link with its name in the organization's view, none
 * on the agent's own page) and its versions (links to them). */
class Refs {
  constructor(event, agentName, onAgentPage) {
    this.event = event;
    this.agentName = agentName; // null: not known (or the event is not about an agent)
    this.onAgentPage = onAgentPage;
  }

  get agentHref() {
    return this.event.agent_id ? `#/agents/${this.event.agent_id}` : null;
  }

  /** The agent by name, as a link; on its own page "the agent". `name`: a name the event itself carries. */
  agent(name = null) {
    if (this.onAgentPage) return name ? ["the agent ", h("strong", {}, ...quoted(name))] : "the agent";
    const shown = this.agentName || name;
    if (!this.agentHref) return shown ? h("strong", {}, shown) : "an agent";
    return h("a", { href: this.agentHref, class: "agent" }, shown || "an agent");
  }

  /** A link to the agent whose text is a name it had (a rename's new name), whatever it is called now. */
  agentAs(name) {
    return this.agentHref ? h("a", { href: this.agentHref, class: "agent" }, name) : h("strong", {}, name);
  }

  /** " of Shop Buddy" after a version or a label; nothing on the agent's own page. */
  of() {
    if (this.onAgentPage || !this.event.agent_id) return null;
    return [" of ", this.agent()];
  }

  version(number, blueprintId) {
    if (number === undefined || number === null) return "a version";
    const text = `version ${number}`;
    return blueprintId && this.event.agent_id
      ? h("a", { href: `#/agents/${this.event.agent_id}/versions/${blueprintId}` }, text) : text;
  }

  label(name) {
    return labelBadge({ name, read_only: name === LATEST, protected: name === PRODUCTION });
  }
}

/** The changes of an agent.update: "renamed “Old” to New and changed its description". */
function updateSentence(refs, details) {
  const before = isObject(details.before) ? details.before : {};
  const after = isObject(details.after) ? details.after : {};
  const parts = [];
  const renamed = "name" in after;
  if (renamed) {
    const old = h("strong", {}, ...quoted(before.name || ""));
    parts.push(refs.onAgentPage ? ["renamed the agent from ", old, " to ", h("strong", {}, ...quoted(after.name))]
      : ["renamed ", old, " to ", refs.agentAs(after.name)]);
  }
  if ("description" in after) {
    const was = Boolean(before.description);
    const is = Boolean(after.description);
    let verb = "changed the description";
    if (!was) verb = "added a description";
    else if (!is) verb = "removed the description";
    if (renamed) parts.push(verb.replace(/ (the|a) description$/, " its description"));
    else parts.push([verb, refs.onAgentPage ? null : [" of ", refs.agent()]]);
  }
  const others = Object.keys(after).filter((key) => key !== "name" && key !== "description");
  if (others.length) parts.push(["changed ", others.join(", "), !renamed && !parts.length ? refs.of() : null]);
  if (!parts.length) return ["changed ", refs.agent()];
  return parts.flatMap((part, i) => (i ? [" and ", part] : [part]));
}

/** A webhook by its URL (cut when long; the whole URL is its title). */
const webhook = (url) => h("strong", { class: "mono webhook-url", title: url || null },
  typeof url === "string" && url ? cut(url) : "a webhook");

/** "a, b and c" of parts (text or elements). */
function listed(parts) {
  return parts.flatMap((part, i) => {
    if (!i) return [part];
    return [i === parts.length - 1 ? " and " : ", ", part];
  });
}

/** The events a webhook is told of: "every event", or "version.compiled and label.moved". */
function eventsOf(types) {
  const kinds = Array.isArray(types) ? types.filter((t) => typeof t === "string") : [];
  if (!kinds.length) return "no event";
  if (WEBHOOKS.events.every((t) => kinds.includes(t))) return "every event";
  return listed(kinds.map((t) => h("code", {}, t)));
}

/** The changes of a webhook.update: "disabled the webhook <url>", or "changed the webhook <url>: pointed it at
 * <new url> and set its events to label.moved". */
function webhookUpdateSentence(who, details) {
  const before = isObject(details.before) ? details.before : {};
  const after = isObject(details.after) ? details.after : {};
  const url = typeof before.url === "string" ? before.url : details.url;
  const changed = Object.keys(after);
  if (changed.length === 1 && changed[0] === "enabled") {
    return [who, after.enabled ? " enabled the webhook " : " disabled the webhook ", webhook(url)];
  }
  const parts = [];
  if ("url" in after) parts.push(["pointed it at ", webhook(after.url)]);
  if ("events" in after) parts.push(["set its events to ", eventsOf(after.events)]);
  if ("description" in after) {
    if (!before.description) parts.push("added a description");
    else if (!after.description) parts.push("removed its description");
    else parts.push("changed its description");
  }
  if ("enabled" in after) parts.push(after.enabled ? "enabled it" : "disabled it");
  const others = changed.filter((key) => !["url", "events", "description", "enabled"].includes(key));
  if (others.length) parts.push(["changed ", others.join(", ")]);
  return [who, " changed the webhook ", webhook(url), parts.length ? [": ", listed(parts)] : null];
}

/** The sentence of one event: [subject, …rest] of text and elements; an action it does not know still reads. */
export function sentence(event, refs) {
  const d = isObject(event.details) ? event.details : {};
  const who = actor(event.actor);
  switch (event.action) {
    case "agent.create":
      return [who, " created ", refs.agent(d.name)];
    case "agent.import":
      return refs.onAgentPage ? ["This agent was imported from the old system"]
        : ["The agent ", refs.agent(), " was imported from the old system"];
    case "agent.update":
      return [who, " ", updateSentence(refs, d)];
    case "agent.activate": {
      const again = isObject(d.before) && d.before.status === "deactive";
      return [who, again ? " reactivated " : " activated ", refs.agent()];
    }
    case "agent.deactivate":
      return [who, " deactivated ", refs.agent()];
    case "agent.delete":
      return [who, " deleted ", refs.agent()];
    case "blueprint.create": {
      const note = typeof d.message === "string" && d.message.trim() ? d.message : null;
      return [who, " created ", refs.version(d.version, event.target_id), refs.of(),
        note ? [": ", h("q", { class: "said", title: note }, cut(note))] : null];
    }
    case "blueprint.compile":
      return [who, " compiled ", refs.version(d.version, event.target_id), refs.of()];
    case "blueprint.compile_failed":
      return [who, " tried to compile ", refs.version(d.version, event.target_id), refs.of(),
        h("span", { class: "failed" }, ": it failed")];
    case "blueprint.activate":
      return [who, " activated ", refs.version(d.version, event.target_id), refs.of()];
    case "label.move": {
      const to = refs.version(d.version, d.blueprint_id);
      if (d.previous_version === null || d.previous_version === undefined) {
        return d.label === PRODUCTION
          ? [who, " set ", refs.label(d.label), refs.of(), " to ", to]
          : [who, " created the label ", refs.label(d.label), refs.of(), " at ", to];
      }
      const from = refs.version(d.previous_version, d.previous_blueprint_id);
      const back = typeof d.version === "number" && d.version < d.previous_version;
      return [who, back ? " rolled back " : " moved ", refs.label(d.label), refs.of(), " from ", from, " to ", to];
    }
    case "label.delete":
      return [who, " deleted the label ", refs.label(d.label), refs.of(),
        d.previous_version ? [" (it was at ", refs.version(d.previous_version, d.previous_blueprint_id), ")"] : null];
    case "label.protect":
      return [who, d.protected === false ? " unprotected " : " protected ", refs.label(d.label), refs.of()];
    case "token.create": {
      const kind = d.scope === "prompt" ? "prompt" : d.role || "new";
      return [who, ` created ${article(kind)} key`, d.name ? [" ", h("strong", {}, ...quoted(d.name))] : null,
        " for ", h("strong", { class: "mono" }, d.user_id || "someone"),
        d.expires_at ? [", expiring ", DATE.format(new Date(d.expires_at))] : null];
    }
    case "token.revoke": {
      let key = d.role ? `${article(d.role)} key` : "a key";
      if (d.name) key = ["the key ", h("strong", {}, ...quoted(d.name))];
      const of = [" of ", h("strong", { class: "mono" }, d.user_id || "someone")];
      return d.by === "secret"
        ? [capitalize(key), of, " was revoked by pasting its secret"]
        : [who, " revoked ", key, of];
    }
    case "webhook.create":
      return [who, " created the webhook ", webhook(d.url), " for ", eventsOf(d.events)];
    case "webhook.update":
      return webhookUpdateSentence(who, d);
    case "webhook.delete":
      return [who, " deleted the webhook ", webhook(d.url)];
    case "webhook.rotate_secret":
      return [who, " rotated the signing secret of the webhook ", webhook(d.url)];
    case "webhook.disable": {
      const since = typeof d.failing_since === "string" ? new Date(d.failing_since) : null;
      return [who, " disabled the webhook ", webhook(d.url), since && !Number.isNaN(since.getTime())
        ? [": every delivery had failed since ", DATE.format(since)] : ": its deliveries kept failing"];
    }
    default:
      return [who, " did ", h("code", {}, event.action), event.agent_id ? [" on ", refs.agent()] : null];
  }
}

function capitalize(part) {
  if (typeof part === "string") return part[0].toUpperCase() + part.slice(1);
  const [first, ...rest] = part;
  return [capitalize(first), ...rest];
}

const KNOWN = new Set(Object.keys(ACTION_WORDS));

/** One event as a list item: its sentence, then " · 14:02" (the reader's local time; the full moment in its
 * title); an action the page has no words for also shows what the server recorded, as text. */
function eventItem(event, refs) {
  const moment = new Date(event.occurred_at);
  const when = h("time", { datetime: event.occurred_at, title: FULL.format(moment) }, CLOCK.format(moment));
  const details = isObject(event.details) ? event.details : {};
  const unknown = !KNOWN.has(event.action) && Object.keys(details).length;
  return h("li", { class: "event", "data-action": event.action },
    h("span", { class: "sentence" }, sentence(event, refs)),
    h("span", { class: "when" }, " · ", when),
    unknown ? h("details", { class: "raw" }, h("summary", {}, "What was recorded"),
      h("pre", { class: "code" }, JSON.stringify(details, null, 2))) : null);
}

/** "Today", "Yesterday", else "Monday, March 9, 2026": the day of a moment in the reader's time zone. */
function dayName(moment, now = new Date()) {
  const key = (date) => `${date.getFullYear()}-${date.getMonth()}-${date.getDate()}`;
  const yesterday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1);
  if (key(moment) === key(now)) return "Today";
  if (key(moment) === key(yesterday)) return "Yesterday";
  return DAY.format(moment);
}

// -- a feed: the events of one query, page by page -----------------------------------------------------------------

export class ActivityFeed {
  /** `path`: the API's list (…/audit-events); `query`: its filters; `onAgentPage`: the sentences leave the agent
   * out; `level`: the day headings' level; `isCurrent`: false once the view is gone (late answers are dropped). */
  constructor(ctx, { path, query = {}, onAgentPage = false, level = 3, pageSize = LIMITS.page_size,
    empty = "No activity yet.", isCurrent = () => true }) {
    Object.assign(this, { ctx, path, query, onAgentPage, level, pageSize, empty, isCurrent });
    this.items = [];
    this.cursor = null;
    this.names = new Map(); // agent id -> its name, or null when it cannot be read
    this.body = h("div", { class: "activity-days", "aria-busy": "true" },
      h("p", { class: "loading" }, "Loading the activity…"));
    this.more = h("button", { type: "button", hidden: true, onclick: () => this.load(true) }, "Show older activity");
    this.count = h("p", { class: "note count", hidden: true });
    this.element = h("div", { class: "activity" }, this.body, this.count, this.more);
  }

  async load(older = false) {
    this.more.disabled = true;
    this.body.setAttribute("aria-busy", "true");
    try {
      const query = { ...this.query, limit: this.pageSize, cursor: older ? this.cursor : null };
      const page = await api("GET", this.path, { query });
      if (!this.onAgentPage) await this.learnNames(page.items);
      if (!this.isCurrent()) return;
      const shown = this.items.length;
      this.items = older ? [...this.items, ...page.items] : page.items;
      this.cursor = page.next_cursor;
      this.render();
      if (older) focusOn(this.body.querySelectorAll("li.event")[shown]);
    } catch (error) {
      if (!this.isCurrent()) return;
      if (!older) replace(this.body, h("p", { class: "note refusal" }, "The activity could not be loaded."));
      this.ctx.fail(error);
    } finally {
      this.more.disabled = false;
      this.body.removeAttribute("aria-busy");
    }
  }

  /** The names of the agents the events are about, each asked once; a name that cannot be read stays unknown. */
  async learnNames(events) {
    const wanted = [...new Set(events.map((e) => e.agent_id).filter((id) => id && !this.names.has(id)))];
    await Promise.all(wanted.map(async (id) => {
      try {
        this.names.set(id, (await api("GET", `/org-agents/${id}`)).agent.name);
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) throw error;
        this.names.set(id, null);
      }
    }));
  }

  render() {
    if (!this.items.length) {
      replace(this.body, h("p", { class: "empty" }, this.empty));
      this.count.hidden = true;
      this.more.hidden = true;
      return;
    }
    const days = [];
    for (const event of this.items) {
      const day = dayName(new Date(event.occurred_at));
      if (!days.length || days[days.length - 1].day !== day) days.push({ day, events: [] });
      days[days.length - 1].events.push(event);
    }
    replace(this.body, days.map(({ day, events }) => h("section", { class: "day" },
      h(`h${this.level}`, { class: "day-heading" }, day),
      h("ol", { class: "events" }, events.map((event) => eventItem(event,
        new Refs(event, this.names.get(event.agent_id) || null, this.onAgentPage)))))));
    const n = this.items.length;
    replace(this.count, `${n} ${n === 1 ? "event" : "events"} shown${this.cursor ? "; older ones on request" : ""}.`);
    this.count.hidden = false;
    this.more.hidden = !this.cursor;
  }
}

/** The agent page's section: the agent's own history, short, with older events on request. */
export function agentActivity(ctx, agentId, isCurrent) {
  const feed = new ActivityFeed(ctx, {
    path: `/org-agents/${agentId}/audit-events`, onAgentPage: true, level: 3, pageSize: AGENT_PAGE_SIZE,
    empty: "Nothing recorded yet.", isCurrent,
  });
  feed.load();
  return feed.element;
}

// -- the organization's view, with its filters ------------------------------------------------------------------

const RANGES = {
  "": "Any time",
  "24h": "The last 24 hours",
  "7d": "The last 7 days",
  "30d": "The last 30 days",
  dates: "Between dates…",
};
const HOURS = { "24h": 24, "7d": 7 * 24, "30d": 30 * 24 };
const DAY_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

/** Local midnight at the start of a YYYY-MM-DD day, `plus` days later, as the API's RFC 3339 (in UTC). */
function startOfDay(day, plus = 0) {
  const [year, month, date] = day.split("-").map(Number);
  return new Date(year, month - 1, date + plus).toISOString();
}

/** The filters an address states (#/activity?action=label.move&actor=ana&when=dates&from=…&to=…), tidied. */
export function filtersOf(params) {
  const when = Object.hasOwn(RANGES, params.get("when") || "") ? params.get("when") || "" : "";
  const day = (name) => (DAY_PATTERN.test(params.get(name) || "") ? params.get(name) : "");
  return {
    action: (params.get("action") || "").trim(),
    actor: (params.get("actor") || "").trim(),
    when,
    from: when === "dates" ? day("from") : "",
    to: when === "dates" ? day("to") : "",
  };
}

/** The API's query for the filters: since inclusive, until exclusive (the day after "to", at local midnight). */
function queryOf(filters, now = Date.now()) {
  const query = { action: filters.action, actor: filters.actor };
  if (HOURS[filters.when]) query.since = new Date(now - HOURS[filters.when] * 3600_000).toISOString();
  if (filters.when === "dates") {
    if (filters.from) query.since = startOfDay(filters.from);
    if (filters.to) query.until = startOfDay(filters.to, 1);
  }
  return query;
}

function addressOf(filters) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) if (value) params.set(key, value);
  const text = params.toString();
  return text ? `#/activity?${text}` : "#/activity";
}

/** What the list shows, in words: "Label moves by ana, the last 7 days". */
function filtersText(filters) {
  const parts = [];
  if (filters.action) parts.push(ACTION_WORDS[filters.action] || filters.action);
  if (filters.actor) parts.push(`by ${filters.actor}`);
  if (filters.when === "dates") {
    if (filters.from && filters.to) parts.push(`from ${filters.from} to ${filters.to}`);
    else if (filters.from) parts.push(`since ${filters.from}`);
    else if (filters.to) parts.push(`until ${filters.to}`);
  } else if (filters.when) parts.push(RANGES[filters.when].toLowerCase());
  return parts.join(", ");
}

function actionMenu(selected) {
  const groups = new Map();
  for (const action of ACTIVITY.actions) {
    const group = GROUPS[action.split(".")[0]] || "Other";
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group).push(h("option", { value: action }, ACTION_WORDS[action] || action));
  }
  return h("select", { id: "activity-action", value: selected },
    h("option", { value: "" }, "Any action"),
    [...groups].map(([group, options]) => h("optgroup", { label: group }, options)));
}

/** #/activity: the organization's trail, for owners and admins; members are told where to look instead. */
export function renderActivity(ctx, main, view, params) {
  if (!ctx.canManage) {
    replace(main, h("h1", {}, "Activity"),
      h("p", {}, "The organization's activity is for owners and admins. Each agent's own activity is on its page: "
        + "open an agent and look under “Activity”."),
      h("p", {}, h("a", { href: "#/" }, "Back to the agents")));
    view.done();
    return;
  }
  const filters = filtersOf(params);
  const action = actionMenu(filters.action);
  const actor = h("input", {
    type: "text", id: "activity-actor", value: filters.actor, autocomplete: "off", spellcheck: "false",
    "aria-describedby": "activity-actor-hint", maxlength: TOKENS.user_chars,
  });
  const when = h("select", { id: "activity-when", value: filters.when },
    Object.entries(RANGES).map(([value, text]) => h("option", { value }, text)));
  const from = h("input", { type: "date", id: "activity-from", value: filters.from });
  const to = h("input", { type: "date", id: "activity-to", value: filters.to, "aria-describedby": "activity-to-hint" });
  const datesError = h("p", { class: "field-error", id: "activity-dates-error", hidden: true });
  const dates = h("div", { class: "dates", hidden: when.value !== "dates" },
    h("div", { class: "field" }, h("label", { for: "activity-from" }, "From"), from),
    h("div", { class: "field" }, h("label", { for: "activity-to" }, "To"), to,
      h("p", { class: "hint after", id: "activity-to-hint" }, "That day included.")),
    datesError);
  when.addEventListener("change", () => {
    dates.hidden = when.value !== "dates";
  });
  const filtered = Boolean(filters.action || filters.actor || filters.when);
  const form = h("form", { class: "card activity-filters", novalidate: true, "aria-label": "Filter the activity" },
    h("div", { class: "filter-fields" },
      h("div", { class: "field" }, h("label", { for: "activity-action" }, "What"), action),
      h("div", { class: "field" },
        h("label", { for: "activity-actor" }, "Who"),
        actor,
        h("p", { class: "hint after", id: "activity-actor-hint" }, "A user id, exactly: ana, shop-runtime…")),
      h("div", { class: "field" }, h("label", { for: "activity-when" }, "When"), when)),
    dates,
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, "Show activity"),
      filtered ? h("a", { href: "#/activity", class: "button quiet" }, "Clear the filters") : null));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    datesError.hidden = true;
    from.removeAttribute("aria-invalid");
    const chosen = {
      action: action.value, actor: actor.value.trim(), when: when.value,
      from: when.value === "dates" ? from.value : "", to: when.value === "dates" ? to.value : "",
    };
    if (chosen.from && chosen.to && chosen.from > chosen.to) {
      replace(datesError, "“From” must not be after “To”.");
      datesError.hidden = false;
      from.setAttribute("aria-invalid", "true");
      from.focus();
      return;
    }
    ctx.navigate(addressOf(chosen));
  });

  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const said = filtersText(filters);
  const feed = new ActivityFeed(ctx, {
    path: "/org-agents/audit-events", query: queryOf(filters), level: 2, isCurrent: view.isCurrent,
    empty: filtered ? "No activity matches these filters." : "No activity yet.",
  });
  replace(main,
    h("div", { class: "title-row" }, h("h1", {}, "Activity")),
    h("p", { class: "lead" }, `Who did what in ${ctx.me.org_name || "your organization"}, newest first: agents, `
      + `versions, labels, keys and webhooks. Times are in your time zone${zone ? ` (${zone})` : ""}.`),
    form,
    said ? h("p", { class: "filtered", id: "activity-filtered" }, "Showing: ", h("strong", {}, said)) : null,
    feed.element);
  feed.load().finally(() => view.done());
}
