// The page's shell: sign-in with a pasted token, the header, messages, confirmations, and the views by address
// (#/ agents, #/new a new agent, #/agents/<id>[/versions/<version id>] one agent, #/activity[?filters] the
// organization's activity, #/keys its keys and #/webhooks its webhooks, all three for owners and admins).

import { LIMITS } from "./domain.js";
import { api, ApiError, describe, session } from "./api.js";
import { BlueprintEditor } from "./blueprint-form.js";
import { AgentPage } from "./agent-page.js";
import { renderActivity } from "./activity.js";
import { KeysPage } from "./keys.js";
import { WebhooksPage } from "./webhooks.js";
import { BlueprintCheck } from "./check.js";
import { ChangeNote } from "./change-note.js";
import { append, focusOn, h, replace, statusBadge, STATUS_LABELS, time } from "./dom.js";

const main = document.getElementById("main");
let viewSerial = 0; // each view's number: an answer for an older view is dropped
const MANAGERS = new Set(["owner", "admin"]);
const CAPTIONS = {
  "": "Active and deactivated agents",
  active: "Active agents",
  deactive: "Deactivated agents",
  delete: "Deleted agents",
};

// -- messages ----------------------------------------------------------------------------------------------------

const messages = document.getElementById("messages");

/** Tell the person something, in the live region; `kind` is "ok", "info" or "error". Stays until replaced. */
export function notify(text, kind = "ok") {
  const close = h("button", { type: "button", class: "close", "aria-label": "Dismiss message" }, "×");
  const toast = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : null }, h("p", {}, text), close);
  close.addEventListener("click", () => toast.remove());
  messages.replaceChildren(toast);
}

export function clearMessages() {
  messages.replaceChildren();
}

// -- confirmation dialog -----------------------------------------------------------------------------------------

const dialog = document.getElementById("confirm");

/** Ask before something that matters; resolves true only when the person confirms. `wide`: the body shows more
 * than a few sentences (what goes live: a table and a diff), so the dialog takes more of the screen. */
export function confirmAction({ title, body, confirm = "Confirm", danger = false, wide = false }) {
  dialog.classList.toggle("wide", wide);
  replace(document.getElementById("confirm-title"), title);
  const paragraphs = [body].flat().map((part) => (part instanceof Node ? part : h("p", {}, part)));
  replace(document.getElementById("confirm-body"), paragraphs);
  const ok = document.getElementById("confirm-ok");
  const cancel = document.getElementById("confirm-cancel");
  ok.textContent = confirm;
  ok.className = danger ? "danger" : "primary";
  const opener = document.activeElement;
  return new Promise((resolve) => {
    const finish = (answer) => {
      ok.onclick = null;
      cancel.onclick = null;
      dialog.onclose = null;
      if (dialog.open) dialog.close();
      if (opener && opener.isConnected) opener.focus();
      resolve(answer);
    };
    ok.onclick = () => finish(true);
    cancel.onclick = () => finish(false);
    dialog.onclose = () => finish(false); // Escape
    dialog.showModal();
    cancel.focus();
  });
}

// -- who is signed in --------------------------------------------------------------------------------------------

const ctx = {
  me: null, // what /whoami says: {org_id, org_name, user_id, role, scope, token_id, token_name, expires_at}
  get canManage() {
    return Boolean(this.me && MANAGERS.has(this.me.role));
  },
  notify,
  confirm: confirmAction,
  navigate,
  fail,
  leaveGuard: null, // a view with unsaved work sets a function answering whether leaving needs a confirmation
};

function showWho() {
  const who = document.getElementById("who");
  const signedIn = Boolean(ctx.me);
  who.hidden = !signedIn;
  const promptKey = signedIn && ctx.me.scope === "prompt";
  document.getElementById("main-nav").hidden = !signedIn || promptKey;
  document.getElementById("nav-activity").hidden = !ctx.canManage;
  document.getElementById("nav-keys").hidden = !ctx.canManage;
  document.getElementById("nav-webhooks").hidden = !ctx.canManage;
  if (signedIn) {
    const { org_id: org, org_name: orgName, token_name: keyName, expires_at: expires } = ctx.me;
    replace(document.getElementById("who-text"),
      h("span", { title: keyName ? `with the key “${keyName}”` : null }, "Signed in as ",
        h("strong", {}, ctx.me.user_id)),
      h("span", { class: `role role-${ctx.me.role}` }, ctx.me.role),
      promptKey ? h("span", { class: "role scope-prompt", title: "This key reads live prompts only" }, "prompt key")
        : null,
      h("span", { class: orgName ? "org" : "org mono", title: `organization ${org}` },
        orgName || `org ${org.slice(0, 8)}`),
      expires ? h("span", { class: "expiry" }, "key expires ", time(expires)) : null);
  }
}

document.getElementById("sign-out").addEventListener("click", async () => {
  if (ctx.leaveGuard && ctx.leaveGuard()) {
    const leave = await confirmAction({
      title: "Sign out without saving?",
      body: "The blueprint you are writing has not been saved as a version. Signing out discards it.",
      confirm: "Discard and sign out",
      danger: true,
    });
    if (!leave) return;
  }
  session.clear();
  ctx.me = null;
  ctx.leaveGuard = null;
  showWho();
  renderSignIn();
  notify("Signed out. The token is no longer kept in this tab.", "info");
});

/** Report a failed call: a refused token signs out and asks for one again; anything else is a message. */
function fail(error) {
  if (error instanceof ApiError && error.status === 401) {
    session.clear();
    ctx.me = null;
    ctx.leaveGuard = null;
    showWho();
    renderSignIn();
  } else if (!(error instanceof ApiError)) {
    console.error(error);
  }
  notify(describe(error), "error");
}

function renderSignIn() {
  viewSerial += 1; // answers still on their way to the previous view are dropped
  document.title = "Sign in — org-agents";
  const input = h("input", {
    type: "password", id: "token", autocomplete: "off", spellcheck: "false", autocapitalize: "off",
    required: true, "aria-describedby": "token-hint",
  });
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h("form", { class: "card narrow", novalidate: true },
    h("div", { class: "field" },
      h("label", { for: "token" }, "API token"),
      h("p", { class: "hint", id: "token-hint" },
        "It is kept only in this browser tab until you sign out or close the tab, and sent only to this server."),
      input),
    h("div", { class: "actions" }, button),
    h("details", {},
      h("summary", {}, "Where do I get a token?"),
      h("p", {}, "Ask an owner or admin of your organization: they create keys on this page's Keys page. On the "
        + "server, an operator mints one with:"),
      h("pre", { class: "code" }, "org-agents token create --org <organization> --user <you> --role member"),
      h("p", {}, "The token is the last line it prints. Owners and admins may also compile and activate versions.")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) {
      notify("Paste your API token first.", "error");
      input.focus();
      return;
    }
    button.disabled = true;
    try {
      ctx.me = await api("GET", "/whoami", { token });
      session.set(token);
      clearMessages();
      showWho();
      route();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        notify("That token was not accepted: it may be mistyped, revoked, or from another server.", "error");
        input.select();
      } else {
        notify(describe(error), "error");
      }
    } finally {
      button.disabled = false;
    }
  });
  replace(main,
    h("h1", {}, "Sign in"),
    h("p", { class: "lead" }, "Manage your organization's AI agents: write blueprints, compile them into system "
      + "prompts, and decide which version is live."),
    form);
  input.focus();
}

// -- views -------------------------------------------------------------------------------------------------------

/** Start a view; `isCurrent()` turns false once another view has started, so late answers are dropped. */
function startView(title, focus) {
  viewSerial += 1;
  const serial = viewSerial;
  let pendingFocus = focus;
  ctx.leaveGuard = null;
  document.title = `${title} — org-agents`;
  main.setAttribute("aria-busy", "true");
  replace(main, h("p", { class: "loading" }, "Loading…"));
  return {
    isCurrent: () => serial === viewSerial,
    /** The view is on screen: after a navigation, its heading takes the focus (once), so it is announced. */
    done: () => {
      if (serial !== viewSerial) return;
      main.removeAttribute("aria-busy");
      if (pendingFocus) focusOn(main.querySelector("h1"));
      pendingFocus = false;
    },
  };
}

function navigate(hash) {
  if (window.location.hash === hash) route(true);
  else window.location.hash = hash;
}

/** The header's link to where the page is, marked as the current one. */
function markNav(hash) {
  const base = hash.split("?")[0];
  const current = base.startsWith("#/agents/") ? "#/" : base;
  for (const link of document.querySelectorAll("#main-nav a")) {
    if (link.getAttribute("href") === current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

/** A prompt key signs in (whoami answers any key) but reads nothing else: say so instead of failing each view. */
function renderPromptKey(view) {
  replace(main, h("h1", {}, "This is a prompt key"),
    h("p", {}, "It reads the live prompts of your organization's agents (GET /org-agents/<id>/prompt) and nothing "
      + "else: it is the key for an LLM runtime, not for this page."),
    h("p", {}, "Sign out, then sign in with a key of scope “manage”. An owner or admin creates one on the Keys page."));
  view.done();
}

function route(focus = false) {
  if (!ctx.me) return;
  const hash = window.location.hash || "#/";
  markNav(hash);
  let match;
  if (ctx.me.scope === "prompt") {
    renderPromptKey(startView("Prompt key", focus));
  } else if ((match = hash.match(/^#\/agents\/([0-9a-f-]{36})(?:\/versions\/([0-9a-f-]{36}))?$/i))) {
    const view = startView("Agent", focus);
    new AgentPage(ctx, main, view, match[1], match[2] || null).load();
  } else if (hash === "#/new") {
    renderNewAgent(startView("New agent", focus));
  } else if (hash === "#/keys") {
    new KeysPage(ctx, main, startView("Keys", focus)).render();
  } else if (hash === "#/webhooks") {
    new WebhooksPage(ctx, main, startView("Webhooks", focus)).render();
  } else if (hash === "#/activity" || hash.startsWith("#/activity?")) {
    const params = new URLSearchParams(hash.slice("#/activity?".length));
    renderActivity(ctx, main, startView("Activity", focus), params);
  } else {
    renderAgents(startView("Agents", focus));
  }
}

// Links inside the page ask before leaving unsaved work.
document.addEventListener("click", async (event) => {
  const link = event.target.closest && event.target.closest('a[href^="#/"]');
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  if (!ctx.leaveGuard || !ctx.leaveGuard()) return;
  event.preventDefault();
  const leave = await confirmAction({
    title: "Leave without saving?",
    body: "The blueprint you are writing has not been saved as a version. Leaving discards it.",
    confirm: "Discard and leave",
    danger: true,
  });
  if (leave) {
    ctx.leaveGuard = null;
    navigate(link.getAttribute("href"));
  }
});

window.addEventListener("beforeunload", (event) => {
  if (ctx.leaveGuard && ctx.leaveGuard()) event.preventDefault();
});

window.addEventListener("hashchange", () => route(true));

document.getElementById("skip-link").addEventListener("click", (event) => {
  event.preventDefault(); // the address after # is the page's route, not an anchor
  focusOn(main);
});

// -- agents list -------------------------------------------------------------------------------------------------

function renderAgents(view) {
  let cursor = null;
  let query = "";
  const state = { status: "" };

  const caption = h("caption", {});
  const tbody = h("tbody", {});
  const table = h("table", { class: "agents responsive" }, caption,
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Name"),
      h("th", { scope: "col" }, "Status"),
      h("th", { scope: "col" }, "Active version"),
      h("th", { scope: "col" }, "Updated"))),
    tbody);
  const empty = h("p", { class: "empty", hidden: true });
  const more = h("button", { type: "button", hidden: true, onclick: () => loadPage(false) }, "Show more agents");

  const search = h("input",
    { type: "search", id: "agent-search", autocomplete: "off", "aria-describedby": "agent-search-hint" });
  const clear = h("button", { type: "button", class: "quiet", hidden: true }, "Clear search");
  const searchForm = h("form", { role: "search", class: "search", novalidate: true },
    h("div", { class: "field" },
      h("label", { for: "agent-search" }, "Search by name"),
      h("p", { class: "hint", id: "agent-search-hint" },
        "Any part of the name, any case. Deleted agents are left out."),
      h("div", { class: "inline" }, search, h("button", { type: "submit" }, "Search"), clear)));
  const statusSelect = h("select", { id: "agent-status" },
    h("option", { value: "" }, "Active and deactivated"),
    h("option", { value: "active" }, "Active only"),
    h("option", { value: "deactive" }, "Deactivated only"),
    h("option", { value: "delete" }, "Deleted"));
  const filter = h("div", { class: "field" }, h("label", { for: "agent-status" }, "Show"), statusSelect);

  searchForm.addEventListener("submit", (event) => {
    event.preventDefault();
    query = search.value.trim();
    loadPage(true);
  });
  clear.addEventListener("click", () => {
    search.value = "";
    query = "";
    loadPage(true);
    search.focus();
  });
  statusSelect.addEventListener("change", () => {
    state.status = statusSelect.value;
    query = "";
    search.value = "";
    loadPage(true);
  });

  async function loadPage(fresh) {
    if (fresh) cursor = null;
    more.disabled = true;
    table.setAttribute("aria-busy", "true");
    try {
      let items;
      if (query) {
        const body = { query, limit: LIMITS.max_page_size };
        items = (await api("POST", "/org-agents/search", { body })).items;
        cursor = null;
      } else {
        const params = { status: state.status, cursor, limit: LIMITS.page_size };
        const page = await api("GET", "/org-agents", { query: params });
        items = page.items;
        cursor = page.next_cursor;
      }
      if (!view.isCurrent()) return;
      if (fresh) tbody.replaceChildren();
      append(tbody, items.map(agentRow));
      const shown = tbody.children.length;
      replace(caption, query
        ? `Agents whose name contains “${query}”: ${shown}`
        : `${CAPTIONS[state.status]}: ${shown}${cursor ? " shown" : ""}`);
      clear.hidden = !query;
      statusSelect.disabled = Boolean(query);
      table.hidden = shown === 0;
      empty.hidden = shown !== 0;
      replace(empty, query ? `No agent’s name contains “${query}”.` : emptyText(state.status));
      more.hidden = !cursor;
    } catch (error) {
      if (view.isCurrent()) fail(error);
    } finally {
      more.disabled = false;
      table.removeAttribute("aria-busy");
      view.done();
    }
  }

  function emptyText(status) {
    if (status === "delete") return "No deleted agents.";
    if (status) return `No ${STATUS_LABELS[status].toLowerCase()} agents.`;
    return "No agents yet. Create the first one with “New agent”.";
  }

  function agentRow(agent) {
    const live = h("td", { "data-label": "Active version" }, agent.current_blueprint_id ? "…" : "None");
    if (agent.current_blueprint_id) {
      api("GET", `/org-agents/${agent.id}/blueprints/${agent.current_blueprint_id}`)
        .then((version) => replace(live, `Version ${version.version}`))
        .catch(() => replace(live, "Unknown"));
    }
    return h("tr", {},
      h("th", { scope: "row", "data-label": "Name" },
        h("a", { href: `#/agents/${agent.id}` }, agent.name),
        agent.description ? h("span", { class: "sub" }, agent.description) : null),
      h("td", { "data-label": "Status" }, statusBadge(agent.status)),
      live,
      h("td", { "data-label": "Updated" }, time(agent.updated_at)));
  }

  replace(main,
    h("div", { class: "title-row" },
      h("h1", {}, "Agents"),
      h("a", { class: "button primary", href: "#/new" }, "New agent")),
    h("div", { class: "filters" }, searchForm, filter),
    table, empty, more);
  loadPage(true);
}

// -- new agent ---------------------------------------------------------------------------------------------------

function renderNewAgent(view) {
  const editor = new BlueprintEditor();
  const name = h("input",
    {
      type: "text", id: "agent-name", required: true, maxlength: LIMITS.name_chars,
      "aria-describedby": "agent-name-error",
    });
  const nameError = h("p", { class: "field-error", id: "agent-name-error", hidden: true });
  const description = h("textarea", { id: "agent-description", rows: 2, "aria-describedby": "agent-description-hint" });
  const conversation = h("input",
    {
      type: "text", id: "new-conversation", maxlength: LIMITS.conversation_id_chars,
      "aria-describedby": "new-conversation-hint",
    });
  const check = new BlueprintCheck(ctx, editor);
  const note = new ChangeNote({
    label: "Note on version 1",
    hint: "Optional: a note on this first blueprint, shown with version 1 in the history.",
  });
  const submit = h("button", { type: "submit", class: "primary" }, "Create agent");
  ctx.leaveGuard = () => editor.dirty || Boolean(name.value.trim());

  const form = h("form", { novalidate: true },
    h("div", { class: "card" },
      h("div", { class: "field" },
        h("label", { for: "agent-name" }, "Agent name", h("span", { class: "required" }, " required")),
        nameError, name),
      h("div", { class: "field" },
        h("label", { for: "agent-description" }, "Description"),
        h("p", { class: "hint", id: "agent-description-hint" },
          "Optional: what the agent is for, for your colleagues."),
        description)),
    h("h2", {}, "Blueprint, version 1"),
    h("p", {}, "Write the first version now, or leave it empty and add versions later. It is saved as a draft: "
      + "nothing goes live until an owner or admin compiles and activates it."),
    editor.element,
    check.element,
    h("div", { class: "card" },
      note.element,
      h("div", { class: "field" },
        h("label", { for: "new-conversation" }, "Conversation id"),
        h("p", { class: "hint", id: "new-conversation-hint" },
          "Optional: the conversation that produced this blueprint."),
        conversation)),
    h("div", { class: "actions" }, submit, h("a", { href: "#/", class: "button quiet" }, "Cancel")));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    nameError.hidden = true;
    name.removeAttribute("aria-invalid");
    if (!name.value.trim()) {
      showNameError("Give the agent a name.");
      return;
    }
    let doc;
    try {
      doc = editor.value();
    } catch (error) {
      notify(error.message, "error");
      return;
    }
    if (Object.keys(doc).length && !note.valid()) return;
    const body = { name: name.value.trim() };
    if (description.value.trim()) body.description = description.value.trim();
    submit.disabled = true;
    try {
      let agent;
      if (Object.keys(doc).length) {
        body.agent_blueprint = doc;
        if (conversation.value.trim()) body.conversation_id = conversation.value.trim();
        if (note.value) body.message = note.value;
        agent = (await api("POST", "/org-agents/with-blueprint", { body })).agent;
        notify(`Agent “${agent.name}” created, with version 1 as a draft.`);
      } else {
        agent = await api("POST", "/org-agents", { body });
        notify(`Agent “${agent.name}” created. It has no blueprint yet.`);
      }
      ctx.leaveGuard = null;
      navigate(`#/agents/${agent.id}`);
    } catch (error) {
      const errors = error instanceof ApiError ? error.errors : [];
      const nameProblem = errors.find((e) => e.field === "name");
      if (nameProblem) showNameError(nameProblem.message);
      note.showProblem(errors);
      fail(error);
    } finally {
      submit.disabled = false;
    }
  });

  function showNameError(message) {
    nameError.textContent = message;
    nameError.hidden = false;
    name.setAttribute("aria-invalid", "true");
    name.focus();
  }

  replace(main, h("h1", {}, "New agent"), form);
  view.done();
}

// -- start -------------------------------------------------------------------------------------------------------

async function start() {
  const token = session.token;
  if (!token) {
    renderSignIn();
    return;
  }
  replace(main, h("p", { class: "loading" }, "Checking your token…"));
  try {
    ctx.me = await api("GET", "/whoami", { token });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      fail(error);
      return;
    }
    notify(describe(error), "error");
    replace(main, h("h1", {}, "Cannot reach org-agents"),
      h("p", {}, "The page could not check your token."),
      h("button", { type: "button", class: "primary", onclick: start }, "Try again"));
    return;
  }
  showWho();
  route();
}

start();
