// Keys (#/keys), for owners and admins: create a key for someone of the organization (a person's, or a prompt key
// for an LLM runtime), see its secret once and copy it, list every key with when it was used, revoke one after a
// confirmation that names it, and revoke a leaked key by pasting its secret.

import { LIMITS, TOKENS } from "./domain.js";
import { api, ApiError } from "./api.js";
import { copySecret, focusOn, h, replace, time } from "./dom.js";

const DAY_MS = 24 * 3600 * 1000;
const EXPIRIES = [ // [value, words]: a list, as an object would put the numbers first
  ["", "Never"],
  ["30", "In 30 days"],
  ["90", "In 90 days"],
  ["365", "In a year"],
  ["date", "At the end of a day you choose…"],
];
const ROLE_WORDS = {
  owner: "everything, the keys of owners too",
  admin: "compile, activate, protect labels, change agents' status, manage the keys of admins and members, read "
    + "the organization's activity",
  member: "read, save new versions, move unprotected labels",
};
const SCOPE_WORDS = {
  manage: ["Manage", "Everything its role allows: the API and this page."],
  prompt: ["Prompt only", "Reads live prompts and /whoami, nothing else: the key for an LLM runtime. If it leaks, "
    + "it cannot change anything, nor sign in to this page."],
};
const DATE = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });

const article = (word) => (/^[aeiou]/i.test(word) ? `an ${word}` : `a ${word}`);
const capitalize = (text) => text[0].toUpperCase() + text.slice(1);
const kindOf = (token) => (token.scope === "prompt" ? "prompt" : token.role); // "a prompt key", "an admin key"

/** "“Shop runtime” (shop-runtime)" or, for an unnamed key, "shop-runtime's member key". */
export function keyName(token) {
  return token.name ? `“${token.name}” (${token.user_id})` : `${token.user_id}'s ${kindOf(token)} key`;
}

/** The roles the caller may give a key: owners any, admins those of admins and members. */
function mintable(me) {
  return TOKENS.roles.filter((role) => me.role === "owner" || role !== "owner");
}

/** The local YYYY-MM-DD of a date, as a date input states it. */
function dayOf(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** The expiry chosen: null (never), N days from now, or the end of a day (local midnight after it). */
function expiryOf(choice, day, now = Date.now()) {
  if (!choice) return null;
  if (choice === "date") {
    const [year, month, date] = day.split("-").map(Number);
    return new Date(year, month - 1, date + 1).toISOString();
  }
  return new Date(now + Number(choice) * DAY_MS).toISOString();
}

function field(id, label, hint, control, error) {
  return h("div", { class: "field" },
    h("label", { for: id }, label),
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null,
    error, control);
}

export class KeysPage {
  constructor(ctx, main, view) {
    this.ctx = ctx;
    this.main = main;
    this.view = view;
    this.cursor = null;
    this.tokens = [];
  }

  get me() {
    return this.ctx.me;
  }

  render() {
    if (!this.ctx.canManage) {
      replace(this.main, h("h1", {}, "Keys"),
        h("p", {}, "Keys are managed by the owners and admins of your organization. Ask one of them for a key, or "
          + "to revoke one."),
        h("p", {}, h("a", { href: "#/" }, "Back to the agents")));
      this.view.done();
      return;
    }
    this.secretEl = h("section", { class: "card secret-card", "aria-labelledby": "secret-heading", hidden: true });
    this.listEl = h("section", { class: "keys-list", "aria-labelledby": "keys-heading" });
    const org = this.me.org_name || "your organization";
    replace(this.main,
      h("div", { class: "title-row" }, h("h1", {}, "Keys")),
      h("p", { class: "lead" }, `The API keys (tokens) of ${org}: each acts as a user id with a role. Give a prompt `
        + "key to an LLM runtime, a manage key to a person or a tool that changes agents."),
      this.secretEl,
      this.createForm(),
      this.listEl,
      this.leakedForm());
    this.renderList();
    this.load(true).finally(() => this.view.done());
  }

  // -- create --------------------------------------------------------------------------------------------------------

  createForm() {
    const errors = {};
    const errorFor = (name) => {
      errors[name] = h("p", { class: "field-error", id: `key-${name}-error`, hidden: true });
      return errors[name];
    };
    const described = (name, hint = true) => [hint ? `key-${name}-hint` : null, `key-${name}-error`]
      .filter(Boolean).join(" ");
    const user = h("input", {
      type: "text", id: "key-user", required: true, maxlength: TOKENS.user_chars, autocomplete: "off",
      spellcheck: "false", "aria-describedby": described("user"),
    });
    const roles = mintable(this.me);
    const role = h("select", { id: "key-role", "aria-describedby": "key-role-hint key-scope-hint key-role-error",
      value: "member" },
      roles.map((r) => h("option", { value: r }, r[0].toUpperCase() + r.slice(1))));
    const scopeHint = h("p", { class: "hint", id: "key-scope-hint" });
    const scopes = TOKENS.scopes.map((scope) => {
      const [title, words] = SCOPE_WORDS[scope] || [scope, ""];
      const id = `key-scope-${scope}`;
      return h("div", { class: "choice" },
        h("input", { type: "radio", name: "key-scope", id, value: scope, checked: scope === "manage",
          "aria-describedby": `${id}-hint` }),
        h("label", { for: id }, title),
        h("p", { class: "hint", id: `${id}-hint` }, words));
    });
    const scopeGroup = h("fieldset", { class: "field scope", "aria-describedby": "key-scope-error" },
      h("legend", {}, "What it may do"), scopes, errorFor("scope"));
    const name = h("input", {
      type: "text", id: "key-name", maxlength: TOKENS.name_chars, autocomplete: "off",
      "aria-describedby": described("name"),
    });
    const expiry = h("select", { id: "key-expiry", "aria-describedby": described("expiry") },
      EXPIRIES.map(([value, text]) => h("option", { value }, text)));
    const tomorrow = new Date(Date.now() + DAY_MS);
    const day = h("input", {
      type: "date", id: "key-expiry-day", min: dayOf(new Date()), value: dayOf(new Date(Date.now() + 30 * DAY_MS)),
      "aria-describedby": "key-expiry-day-hint",
    });
    const dayField = h("div", { class: "field", hidden: true },
      h("label", { for: "key-expiry-day" }, "Last day it works"),
      h("p", { class: "hint", id: "key-expiry-day-hint" }, "It stops working at midnight after that day, in your "
        + `time zone. Tomorrow is ${DATE.format(tomorrow)}.`),
      day);
    const expiryNote = h("p", { class: "note", id: "key-expiry-when", "aria-live": "polite" });
    const submit = h("button", { type: "submit", class: "primary" }, "Create key");

    const update = () => {
      dayField.hidden = expiry.value !== "date";
      const at = expiry.value && (expiry.value !== "date" || day.value) ? expiryOf(expiry.value, day.value) : null;
      replace(expiryNote, at ? ["It will stop working on ", time(at), "."] : "It works until it is revoked.");
      const prompt = this.scopeOf(scopeGroup) === "prompt";
      replace(scopeHint, prompt
        ? "A prompt key reads the live prompt of any agent of the organization, whatever its role: member is enough."
        : `${role.value[0].toUpperCase()}${role.value.slice(1)}: ${ROLE_WORDS[role.value] || ""}.`);
    };
    expiry.addEventListener("change", update);
    day.addEventListener("input", update);
    role.addEventListener("change", update);
    scopeGroup.addEventListener("change", update);

    const form = h("form", { class: "card key-form", novalidate: true, "aria-labelledby": "create-key-heading" },
      h("h2", { id: "create-key-heading" }, "Create a key"),
      h("div", { class: "fields" },
        field("key-user", "User id", "Who the key acts as: a colleague's user id, or a name for a program such as "
          + "shop-runtime. It is recorded as the author of what the key changes.", user, errorFor("user")),
        field("key-name", "Name", "Optional: what the key is for, shown in the list (“Shop Buddy runtime”).",
          name, errorFor("name"))),
      scopeGroup,
      h("div", { class: "fields" },
        h("div", { class: "field" },
          h("label", { for: "key-role" }, "Role"),
          roles.length < TOKENS.roles.length
            ? h("p", { class: "hint", id: "key-role-hint" }, "Admins create admin and member keys; only an owner "
              + "creates an owner's key.")
            : h("p", { class: "hint", id: "key-role-hint" }, "What the key may do, within its scope."),
          errorFor("role"), role, scopeHint),
        h("div", { class: "field" },
          h("label", { for: "key-expiry" }, "Expires"),
          h("p", { class: "hint", id: "key-expiry-hint" }, "A key for a test or a contractor should expire."),
          errorFor("expiry"), expiry, expiryNote),
        dayField),
      h("div", { class: "actions" }, submit));

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      Object.values(errors).forEach((el) => { el.hidden = true; });
      form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
      const show = (fieldName, message, control) => {
        const el = errors[fieldName];
        replace(el, message);
        el.hidden = false;
        if (control) {
          control.setAttribute("aria-invalid", "true");
          control.focus();
        }
      };
      if (!user.value.trim()) {
        show("user", "Say who the key is for: a user id.", user);
        return;
      }
      if (expiry.value === "date" && (!day.value || day.value < dayOf(new Date()))) {
        show("expiry", "Choose a day from today on.", day);
        return;
      }
      const body = { user_id: user.value.trim(), role: role.value, scope: this.scopeOf(scopeGroup) };
      if (name.value.trim()) body.name = name.value.trim();
      const expiresAt = expiryOf(expiry.value, day.value);
      if (expiresAt) body.expires_at = expiresAt;
      submit.disabled = true;
      try {
        const issued = await api("POST", "/tokens", { body });
        form.reset();
        role.value = "member";
        day.value = dayOf(new Date(Date.now() + 30 * DAY_MS));
        update();
        this.showSecret(issued);
        await this.load(true);
      } catch (error) {
        const controls = { user_id: user, name, role, scope: null, expires_at: expiry };
        const problems = error instanceof ApiError ? error.errors : [];
        for (const problem of problems) {
          const key = { user_id: "user", expires_at: "expiry" }[problem.field] || problem.field;
          if (errors[key]) show(key, problem.message, controls[problem.field]);
        }
        if (error instanceof ApiError && error.status === 403 && error.code === "RoleTooLow") {
          this.ctx.notify(this.me.role === "admin" && body.role === "owner"
            ? "Only an owner can create an owner's key." : "Your role does not allow creating keys.", "error");
        } else {
          this.ctx.fail(error);
        }
      } finally {
        submit.disabled = false;
      }
    });
    update();
    return form;
  }

  scopeOf(group) {
    const checked = group.querySelector("input[name=key-scope]:checked");
    return checked ? checked.value : "manage";
  }

  /** The secret, shown this once, with a Copy button; "Done" forgets it from the page. */
  showSecret(issued) {
    const { token, secret } = issued;
    const input = h("input", {
      type: "text", id: "new-secret", readonly: true, value: secret, class: "mono secret", spellcheck: "false",
      autocomplete: "off", "aria-describedby": "secret-warning",
    });
    const stored = "Store it somewhere safe now.";
    const copy = h("button", { type: "button", class: "primary",
      onclick: () => copySecret(input, copy, this.ctx.notify, stored) },
      "Copy secret");
    const done = h("button", {
      type: "button",
      onclick: () => {
        input.value = "";
        this.secretEl.hidden = true;
        this.secretEl.replaceChildren();
        focusOn(document.getElementById("create-key-heading"));
      },
    }, "I have stored it: hide the secret");
    const prompt = token.scope === "prompt";
    replace(this.secretEl,
      h("h2", { id: "secret-heading" }, `Key created: ${keyName(token)}`),
      h("p", { class: "banner warn", id: "secret-warning" },
        h("strong", {}, "Copy the secret now: you will not see it again. "),
        "Only a hash of it is kept, so nobody can show it later. If it is lost, revoke the key and create another."),
      h("div", { class: "field" },
        h("label", { for: "new-secret" }, "Secret"),
        h("div", { class: "inline" }, input, copy)),
      h("dl", { class: "facts" },
        h("div", {}, h("dt", {}, "For"), h("dd", { class: "mono" }, token.user_id)),
        h("div", {}, h("dt", {}, "Role"), h("dd", {}, token.role)),
        h("div", {}, h("dt", {}, "Scope"), h("dd", {}, scopeBadge(token.scope))),
        h("div", {}, h("dt", {}, "Expires"), h("dd", {}, token.expires_at ? time(token.expires_at) : "Never"))),
      prompt ? h("p", { class: "note" }, "Give it to the runtime as a bearer token: ",
        h("code", {}, "Authorization: Bearer <the secret>"), " on ", h("code", {}, "GET /org-agents/<agent id>/prompt"),
        " (add ", h("code", {}, "?label=staging"), " for another label, ", h("code", {}, "&wait=30"),
        " to wait for a change).") : null,
      h("div", { class: "actions" }, done));
    this.secretEl.hidden = false;
    this.secretEl.scrollIntoView({ block: "start" });
    focusOn(document.getElementById("secret-heading"));
    this.ctx.notify(`Key created for ${token.user_id}. Copy its secret now: it is shown only this once.`);
  }

  // -- list ----------------------------------------------------------------------------------------------------------

  async load(fresh) {
    const shown = this.tokens.length;
    try {
      const query = { limit: LIMITS.page_size, cursor: fresh ? null : this.cursor };
      const page = await api("GET", "/tokens", { query });
      if (!this.view.isCurrent()) return;
      this.tokens = fresh ? page.items : [...this.tokens, ...page.items];
      this.cursor = page.next_cursor;
      this.renderList();
      if (!fresh) focusOn(this.listEl.querySelectorAll("tbody tr")[shown]?.querySelector("th"));
    } catch (error) {
      if (this.view.isCurrent()) this.ctx.fail(error);
    }
  }

  renderList() {
    const now = Date.now();
    const rows = this.tokens.map((token) => {
      const revoked = Boolean(token.revoked_at);
      const expired = !revoked && token.expires_at && new Date(token.expires_at).getTime() <= now;
      const mine = token.id === this.me.token_id;
      let refusal = null;
      if (revoked) refusal = "Already revoked.";
      else if (token.role === "owner" && this.me.role !== "owner") refusal = "Only an owner can revoke an owner's key.";
      const revoke = h("button", {
        type: "button", class: "small danger", disabled: Boolean(refusal), title: refusal,
        onclick: (e) => this.revoke(token, e.currentTarget),
      }, "Revoke", h("span", { class: "visually-hidden" }, ` ${keyName(token)}`));
      let state = h("span", { class: "badge key-active" }, "Active");
      if (revoked) state = [h("span", { class: "badge key-revoked" }, "Revoked"), h("span", { class: "sub" },
        time(token.revoked_at))];
      else if (expired) state = h("span", { class: "badge key-expired" }, "Expired");
      return h("tr", { class: revoked || expired ? "gone" : null },
        h("th", { scope: "row", "data-label": "Name" },
          token.name || h("span", { class: "muted" }, "Unnamed"),
          mine ? h("span", { class: "sub" }, "You are signed in with this key") : null),
        h("td", { "data-label": "User", class: "mono" }, token.user_id),
        h("td", { "data-label": "Role" }, h("span", { class: `role-tag role-${token.role}` }, token.role)),
        h("td", { "data-label": "Scope" }, scopeBadge(token.scope)),
        h("td", { "data-label": "Created" }, time(token.created_at)),
        h("td", { "data-label": "Expires" }, token.expires_at ? time(token.expires_at)
          : h("span", { class: "muted" }, "Never")),
        h("td", { "data-label": "Last used" }, token.last_used_at ? time(token.last_used_at)
          : h("span", { class: "muted" }, "Never")),
        h("td", { "data-label": "State" }, state),
        h("td", { "data-label": "", class: "key-actions" }, revoked ? null : revoke));
    });
    const org = this.me.org_name || "your organization";
    replace(this.listEl,
      h("h2", { id: "keys-heading" }, "All keys"),
      this.tokens.length
        ? h("table", { class: "keys responsive" },
          h("caption", {}, `Keys of ${org}, newest first, revoked ones too. No secret is shown again; last use is `
            + "to the minute."),
          h("thead", {}, h("tr", {},
            ["Name", "User", "Role", "Scope", "Created", "Expires", "Last used", "State"]
              .map((title) => h("th", { scope: "col" }, title)),
            h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Revoke")))),
          h("tbody", {}, rows))
        : h("p", { class: "empty" }, "No keys yet."),
      this.cursor ? h("button", { type: "button", onclick: () => this.load(false) }, "Show more keys") : null);
  }

  async revoke(token, button) {
    const mine = token.id === this.me.token_id;
    const ok = await this.ctx.confirm({
      title: `Revoke the key ${keyName(token)}?`,
      body: [
        `${capitalize(article(kindOf(token)))} key of ${token.user_id}, created `
          + `${DATE.format(new Date(token.created_at))}. It is refused on every server within a second or so: `
          + "whatever uses it gets “not signed in” (401) from then on.",
        mine ? "You are signed in with this key: revoking it signs you out of this page."
          : "This cannot be undone: to let its user in again, create a new key.",
      ],
      confirm: "Revoke key",
      danger: true,
    });
    if (!ok) return;
    button.disabled = true;
    try {
      await api("DELETE", `/tokens/${token.id}`);
      this.ctx.notify(`The key ${keyName(token)} is revoked.`);
      await this.load(true);
      focusOn(document.getElementById("keys-heading"));
    } catch (error) {
      button.disabled = false;
      if (error instanceof ApiError && error.status === 403 && error.code === "RoleTooLow") {
        this.ctx.notify("Only an owner can revoke an owner's key.", "error");
      } else {
        this.ctx.fail(error);
      }
    }
  }

  // -- a leaked key --------------------------------------------------------------------------------------------------

  leakedForm() {
    const input = h("input", {
      type: "password", id: "leaked-secret", autocomplete: "off", spellcheck: "false", autocapitalize: "off",
      "aria-describedby": "leaked-secret-hint leaked-secret-error",
    });
    const error = h("p", { class: "field-error", id: "leaked-secret-error", hidden: true });
    const submit = h("button", { type: "submit", class: "danger" }, "Revoke this secret");
    const form = h("form", { class: "card leaked-form", novalidate: true, "aria-labelledby": "leaked-heading" },
      h("h2", { id: "leaked-heading" }, "Revoke a leaked key"),
      h("div", { class: "field" },
        h("label", { for: "leaked-secret" }, "Leaked secret"),
        h("p", { class: "hint", id: "leaked-secret-hint" }, "Found a key in a log, a chat or a repository? Paste it "
          + "to revoke it at once, whichever organization it belongs to: holding the secret is enough."),
        error,
        h("div", { class: "inline" }, input, submit)));
    const show = (message) => {
      replace(error, message);
      error.hidden = false;
      input.setAttribute("aria-invalid", "true");
      input.focus();
    };
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.hidden = true;
      input.removeAttribute("aria-invalid");
      const secret = input.value.trim();
      if (!secret) {
        show("Paste the secret first.");
        return;
      }
      submit.disabled = true;
      try {
        await api("POST", "/tokens/revoke", { body: { secret }, token: null });
        input.value = "";
        this.ctx.notify("Revoked: the key with that secret is refused from now on, on every server (if it was "
          + "revoked already, nothing changed).");
        await this.load(true);
      } catch (failure) {
        if (failure instanceof ApiError && failure.status === 404) {
          show("No key of this server has that secret: check that it is complete.");
        } else if (failure instanceof ApiError && failure.status === 422) {
          const problem = failure.errors.find((e) => e.field === "secret");
          show(`That is not a key of org-agents${problem ? `: ${problem.message}` : ""}.`);
        } else {
          this.ctx.fail(failure);
        }
      } finally {
        submit.disabled = false;
      }
    });
    return form;
  }
}

export function scopeBadge(scope) {
  return h("span", { class: `badge scope-${scope}`, title: (SCOPE_WORDS[scope] || [])[1] || null },
    scope === "prompt" ? "prompt" : scope);
}
