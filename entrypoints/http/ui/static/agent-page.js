// One agent: its summary and switches, its release labels (labels.js), its version history with each version's
// change note, the comparison of two versions (changes.js), its activity (activity.js), and the opened version:
// compile it, make it live (or roll back to it) after seeing what goes live, label it, or start a new version from
// it, checked before it is saved.

import { LIMITS } from "./domain.js";
import { agentActivity } from "./activity.js";
import { api, ApiError } from "./api.js";
import { BlueprintEditor } from "./blueprint-form.js";
import { ChangeNote } from "./change-note.js";
import { CompareSection, whatGoesLive } from "./changes.js";
import { BlueprintCheck } from "./check.js";
import { compilationBadge, focusOn, h, replace, statusBadge, time } from "./dom.js";
import { labelBadge, LabelsSection } from "./labels.js";

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

export class AgentPage {
  constructor(ctx, main, view, agentId, versionId) {
    this.ctx = ctx;
    this.main = main;
    this.view = view;
    this.agentId = agentId;
    this.wantedVersionId = versionId;
    this.detail = null; // {agent, blueprint (live), latest_blueprint}
    this.versions = [];
    this.labels = []; // [{name, blueprint_id, version, protected, moved_at, moved_by, read_only}], as read
    this.labelsSection = new LabelsSection(this);
    this.compare = new CompareSection(this);
    this.cursor = null;
    this.selected = null; // the opened version, whole (BlueprintOut); this.versions are summaries
    this.editing = null; // {base: BlueprintOut | null, editor, check, note}
    this.warnings = new Map(); // version id -> warnings of its last compile in this page, if the version has none
    ctx.leaveGuard = () => Boolean(this.editing && this.editing.editor.dirty);
  }

  get base() {
    return `/org-agents/${this.agentId}`;
  }

  get agent() {
    return this.detail.agent;
  }

  get live() {
    return this.detail.blueprint; // the active version, or null
  }

  get frozen() {
    return this.agent.status === "delete";
  }

  // -- data ------------------------------------------------------------------------------------------------------

  async load() {
    try {
      await this.fetch();
      if (!this.view.isCurrent()) return;
      let selected = null;
      if (this.wantedVersionId) {
        selected = await this.wholeVersion(this.wantedVersionId);
      } else {
        selected = this.detail.latest_blueprint;
      }
      if (!this.view.isCurrent()) return;
      this.selected = selected;
      if (!selected && this.canWrite) this.startEditing(null, false);
      this.render();
    } catch (error) {
      if (!this.view.isCurrent()) return;
      if (error instanceof ApiError && error.status === 404) {
        this.ctx.leaveGuard = null;
        document.title = "Not found — org-agents";
        replace(this.main, h("h1", {}, "Not found"),
          h("p", {}, "There is no such agent or version in your organization. The address may be mistyped, "
            + "or it belongs to another organization."),
          h("p", {}, h("a", { href: "#/" }, "Back to the agents")));
      } else {
        replace(this.main, h("h1", {}, "Agent"), h("p", {}, "The agent could not be loaded."),
          h("button", { type: "button", onclick: () => this.load() }, "Try again"));
      }
      this.ctx.fail(error);
    } finally {
      this.view.done();
    }
  }

  async fetch() {
    const [detail, page, labels] = await Promise.all([
      api("GET", this.base),
      api("GET", `${this.base}/blueprints`, { query: { limit: LIMITS.page_size } }),
      api("GET", `${this.base}/labels`),
    ]);
    this.detail = detail;
    this.versions = page.items;
    this.labels = labels.items;
    this.cursor = page.next_cursor;
  }

  /** A version with its document and prompt. The history lists summaries; the agent's own answer holds its active
   * and newest versions whole. */
  async wholeVersion(id) {
    const known = [this.detail.latest_blueprint, this.detail.blueprint].find((v) => v && v.id === id);
    return known || api("GET", `${this.base}/blueprints/${id}`);
  }

  /** Reload after a change; the opened version is reloaded too, so its status is the server's. */
  async refresh(selectId) {
    await this.fetch();
    const id = selectId || (this.selected && this.selected.id);
    if (id) {
      this.selected = await this.wholeVersion(id);
    } else {
      this.selected = this.detail.latest_blueprint;
    }
  }

  async loadOlder(button) {
    button.disabled = true;
    try {
      const query = { limit: LIMITS.page_size, cursor: this.cursor };
      const page = await api("GET", `${this.base}/blueprints`, { query });
      this.versions = [...this.versions, ...page.items];
      this.cursor = page.next_cursor;
      this.renderHistory();
      this.renderLabels(); // the move form offers the versions now shown
      focusOn(this.historyBody.children[this.versions.length - page.items.length]?.querySelector("a"));
    } catch (error) {
      this.ctx.fail(error);
    } finally {
      button.disabled = false;
    }
  }

  /** The active version's badge: "Live" while the agent serves it, otherwise it is only the active one. */
  liveBadge() {
    return this.agent.status === "active"
      ? h("span", { class: "badge live" }, "Live")
      : h("span", { class: "badge active-off" }, "Active, not served");
  }

  /** The labels that name this version: production, latest, staging … */
  labelsAt(version) {
    return this.labels.filter((label) => label.blueprint_id === version.id);
  }

  get canWrite() {
    return !this.frozen;
  }

  get canManage() {
    return this.ctx.canManage && !this.frozen;
  }

  // -- page --------------------------------------------------------------------------------------------------------

  render() {
    const agent = this.agent;
    document.title = `${agent.name} — org-agents`;
    this.summaryEl = h("section", { class: "card summary", "aria-labelledby": "summary-heading" });
    this.labelsEl = h("section", { class: "card labels-card", "aria-labelledby": "labels-heading" });
    this.historyEl = h("section", { class: "history", "aria-labelledby": "history-heading" });
    this.compareEl = h("section", { class: "card compare-card", "aria-labelledby": "compare-heading", hidden: true });
    this.activityEl = h("section", { class: "card activity-card", "aria-labelledby": "activity-heading" });
    this.panelEl = h("section", { class: "card version-panel", "aria-labelledby": "version-heading" });
    replace(this.main,
      h("nav", { "aria-label": "Breadcrumb", class: "breadcrumb" },
        h("ol", {}, h("li", {}, h("a", { href: "#/" }, "Agents")), h("li", { "aria-current": "page" }, agent.name))),
      h("div", { class: "title-row" }, h("h1", {}, agent.name), statusBadge(agent.status)),
      agent.description ? h("p", { class: "lead" }, agent.description) : null,
      this.summaryEl, this.labelsEl, this.historyEl, this.compareEl, this.activityEl, this.panelEl);
    this.renderSummary();
    this.renderLabels();
    this.renderHistory();
    this.compare.render(this.compareEl);
    this.renderActivity();
    this.renderPanel();
  }

  renderSummary() {
    const agent = this.agent;
    const live = this.live;
    const managerOnly = !this.ctx.canManage;
    const roleNote = "role-note";
    const button = (text, onclick, extra = {}) => h("button", {
      type: "button", disabled: !this.canManage, "aria-describedby": managerOnly ? roleNote : null, onclick, ...extra,
    }, text);
    const actions = [
      agent.status === "active"
        ? button("Deactivate agent", (e) => this.setAgentStatus("deactivate", e.currentTarget))
        : button("Reactivate agent", (e) => this.setAgentStatus("activate", e.currentTarget)),
      button("Delete agent", (e) => this.deleteAgent(e.currentTarget), { class: "danger" }),
    ];

    let state = null;
    if (agent.status === "delete") {
      state = h("p", { class: "banner warn" }, "This agent is deleted. It stays readable, but accepts no new "
        + "versions, compiles or activations, and serves no prompt.");
    } else if (agent.status === "deactive") {
      state = h("p", { class: "banner warn" },
        "This agent is deactivated: it keeps its versions but serves no prompt until it is reactivated.");
    } else if (!live) {
      state = h("p", { class: "banner" }, "Nothing is live yet: compile a version, then activate it.");
    }
    const activeLabel = agent.status === "active" ? "Live version" : "Active version, not served";
    replace(this.summaryEl,
      h("h2", { id: "summary-heading", class: "visually-hidden" }, "Summary"),
      state,
      h("dl", { class: "facts" },
        h("div", {}, h("dt", {}, activeLabel), h("dd", {}, live
          ? h("a", { href: `#/agents/${agent.id}/versions/${live.id}`, id: "live-version" }, `Version ${live.version}`)
          : h("span", { id: "live-version" }, "None"))),
        h("div", {}, h("dt", {}, "Newest version"), h("dd", {},
          this.detail.latest_blueprint ? `Version ${this.detail.latest_blueprint.version}` : "None")),
        h("div", {}, h("dt", {}, "Created"), h("dd", {}, time(agent.created_at), ` by ${agent.created_by}`)),
        h("div", {}, h("dt", {}, "Updated"), h("dd", {}, time(agent.updated_at)))),
      this.labels.length ? h("dl", { class: "facts" }, h("div", {}, h("dt", {}, "Labels"), h("dd", {},
        h("ul", { class: "label-summary", id: "label-summary" }, this.labels.map((label) => h("li", {},
          h("a", { href: `#/agents/${agent.id}/versions/${label.blueprint_id}` },
            labelBadge(label), ` Version ${label.version}`))))))) : null,
      h("div", { class: "actions" }, actions),
      managerOnly ? h("p", { class: "note", id: roleNote }, `Your role (${this.ctx.me.role}) can read, save new `
        + "versions and move unprotected labels; compiling, activating, moving production or a protected label, "
        + "deactivating and deleting need an owner or admin.") : null);
  }

  renderLabels() {
    this.labelsSection.render(this.labelsEl);
  }

  renderHistory() {
    this.historyBody = h("tbody", {});
    for (const version of this.versions) {
      const isLive = this.live && this.live.id === version.id;
      const isOpen = this.selected && this.selected.id === version.id;
      this.historyBody.append(h("tr", { class: isOpen ? "selected" : null },
        h("th", { scope: "row", "data-label": "Version" },
          h("a", { href: `#/agents/${this.agentId}/versions/${version.id}`, "aria-current": isOpen ? "true" : null },
            `Version ${version.version}`),
          isLive ? this.liveBadge() : null,
          version.message ? h("span", { class: "sub change-note-text", title: version.message }, version.message)
            : null),
        h("td", { "data-label": "Labels" }, h("span", { class: "badges" }, this.labelsAt(version).map(labelBadge))),
        h("td", { "data-label": "Status" }, compilationBadge(version.compilation_status)),
        h("td", { "data-label": "Saved by" }, version.created_by),
        h("td", { "data-label": "Saved" }, time(version.created_at)),
        h("td", { "data-label": "Conversation" }, version.conversation_id
          ? h("span", { class: "mono" }, version.conversation_id) : h("span", { class: "muted" }, "—")),
        h("td", { "data-label": "Changes", class: "compare" }, h("button", {
          type: "button", class: "small", onclick: () => this.compare.show(version),
        }, h("span", {}, "What changed", h("span", { class: "visually-hidden" }, ` in version ${version.version}`))))));
    }
    const newVersion = h("button", {
      type: "button", disabled: !this.canWrite || Boolean(this.editing),
      onclick: () => this.startEditing(this.detail.latest_blueprint, true),
    }, "New version");
    replace(this.historyEl,
      h("div", { class: "title-row" }, h("h2", { id: "history-heading" }, "Version history"), newVersion),
      this.versions.length
        ? h("table", { class: "versions responsive" },
          h("caption", {}, `Versions of ${this.agent.name}, newest first. Open one to read it, compile it, label it `
            + "or make it live; “What changed” compares it with the version before, or with any other."),
          h("thead", {}, h("tr", {},
            h("th", { scope: "col" }, "Version"),
            h("th", { scope: "col" }, "Labels"),
            h("th", { scope: "col" }, "Status"),
            h("th", { scope: "col" }, "Saved by"),
            h("th", { scope: "col" }, "Saved"),
            h("th", { scope: "col" }, "Conversation"),
            h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Changes")))),
          this.historyBody)
        : h("p", { class: "empty" }, "No versions yet."),
      this.cursor
        ? h("button", { type: "button", onclick: (e) => this.loadOlder(e.currentTarget) }, "Show older versions")
        : null);
  }

  /** The agent's own activity, read again with each render, so a change made on this page shows at once. */
  renderActivity() {
    replace(this.activityEl,
      h("h2", { id: "activity-heading" }, "Activity"),
      h("p", { class: "note" }, "What happened to this agent, its versions and its labels, newest first, "
        + "in your time zone."),
      agentActivity(this.ctx, this.agentId, this.view.isCurrent));
  }

  renderPanel() {
    if (this.editing) this.renderEditing();
    else if (this.selected) this.renderVersion(this.selected);
    else replace(this.panelEl, h("h2", { id: "version-heading" }, "Blueprint"), h("p", {}, "No versions yet."));
  }

  // -- one version, read-only ------------------------------------------------------------------------------------

  renderVersion(version) {
    const live = this.live;
    const isLive = live && live.id === version.id;
    const status = version.compilation_status;
    const noteId = "version-note";

    const compile = h("button", {
      type: "button", class: status === "draft" ? "primary" : null,
      disabled: !this.canManage || status === "compiled", "aria-describedby": noteId,
      onclick: (e) => this.compile(version, e.currentTarget),
    }, "Compile");
    const rollback = live && version.version < live.version;
    const activate = h("button", {
      type: "button", class: status === "compiled" && !isLive ? "primary" : null,
      disabled: !this.canManage || status !== "compiled" || isLive, "aria-describedby": noteId,
      onclick: (e) => this.activate(version, e.currentTarget),
    }, rollback ? `Roll back to version ${version.version}` : `Activate version ${version.version}`);
    const edit = h("button", {
      type: "button", disabled: !this.canWrite, onclick: () => this.startEditing(version, true),
    }, "Edit as a new version");
    let notLabelled = null;
    if (this.frozen) notLabelled = "The agent is deleted: its labels cannot change.";
    else if (status === "draft") notLabelled = "A draft cannot carry a label: compile it first.";
    else if (status === "failed") notLabelled = "A version that failed to compile cannot carry a label.";
    const label = h("button", {
      type: "button", disabled: Boolean(notLabelled), title: notLabelled,
      onclick: () => this.labelsSection.prefill({ versionId: version.id }),
    }, `Move a label to version ${version.version}…`);
    const compare = h("button", {
      type: "button", onclick: () => this.compare.show(version),
    }, version.version > 1 ? "Compare with the version before" : "Compare");

    let note;
    if (this.frozen) note = "The agent is deleted: nothing can change.";
    else if (!this.ctx.canManage) note = "Compiling and activating need an owner or admin.";
    else if (status === "draft") note = "A draft: compile it to check it and produce its system prompt.";
    else if (status === "failed") {
      note = "It did not compile. Fix the problems in a new version: “Edit as a new version”, correct the fields, "
        + "save, then compile.";
    } else if (isLive && this.agent.status === "active") note = "This version's prompt is live.";
    else if (isLive) note = "This is the active version, but the agent is deactivated, so no prompt is served.";
    else if (rollback) note = `Compiled. Rolling back makes it live instead of version ${live.version}.`;
    else note = "Compiled: activate it to make its prompt live.";

    const editor = new BlueprintEditor({ readOnly: true });
    editor.load(version.agent_blueprint);
    if (status === "failed" && version.compile_errors) {
      editor.showViolations(version.compile_errors,
        `Version ${version.version} did not compile: ${plural(version.compile_errors.length, "problem", "problems")}`);
    }

    const result = this.resultElement(version);
    replace(this.panelEl,
      h("div", { class: "title-row" },
        h("h2", { id: "version-heading" }, `Version ${version.version}`),
        h("span", { class: "badges" },
          compilationBadge(status), isLive ? this.liveBadge() : null, this.labelsAt(version).map(labelBadge))),
      version.message ? h("dl", { class: "facts" }, h("div", {}, h("dt", {}, "Change note"),
        h("dd", { class: "change-note-text", id: "version-note-text" }, version.message))) : null,
      h("dl", { class: "facts" },
        h("div", {}, h("dt", {}, "Saved"), h("dd", {}, time(version.created_at), ` by ${version.created_by}`)),
        h("div", {}, h("dt", {}, "Conversation"), h("dd", {}, version.conversation_id || "—")),
        version.compiled_at ? h("div", {}, h("dt", {}, status === "failed" ? "Compile tried" : "Compiled"),
          h("dd", {}, time(version.compiled_at), version.compiled_by ? ` by ${version.compiled_by}` : "")) : null),
      h("div", { class: "actions" }, compile, activate, edit, label, compare),
      h("p", { class: "note", id: noteId }, note),
      result,
      h("h3", { class: "blueprint-heading" }, "Blueprint"),
      editor.element);
    this.versionEditor = editor;
  }

  resultElement(version) {
    if (version.compilation_status !== "compiled") return null;
    const warnings = version.compile_warnings || this.warnings.get(version.id) || []; // kept with the version
    const prompt = version.compiled_system_prompt || "";
    const pre = h("pre",
      { class: "prompt", id: "compiled-prompt", tabindex: "0", "aria-labelledby": "prompt-heading" }, prompt);
    return h("div", { class: "result", id: "compile-result", tabindex: "-1" },
      warnings.length ? h("div", { class: "warnings" },
        h("h3", {}, plural(warnings.length, "warning", "warnings")),
        h("ul", {}, warnings.map((w) => h("li", {}, w.field ? `${w.field}: ${w.message}` : w.message)))) : null,
      h("div", { class: "title-row" },
        h("h3", { id: "prompt-heading" }, "Compiled system prompt"),
        h("button", { type: "button", onclick: (e) => this.copy(prompt, pre, e.currentTarget) }, "Copy prompt")),
      pre);
  }

  // -- writing a new version ---------------------------------------------------------------------------------------

  startEditing(base, render) {
    const editor = new BlueprintEditor();
    editor.load(base ? base.agent_blueprint : {});
    if (base && base.compilation_status === "failed" && base.compile_errors) {
      const these = base.compile_errors.length === 1 ? "this problem" : "these problems";
      editor.showViolations(base.compile_errors, `Version ${base.version} did not compile: fix ${these}`);
    }
    this.editing = { base, editor, check: new BlueprintCheck(this.ctx, editor, this.agentId), note: new ChangeNote() };
    if (render) {
      this.renderHistory();
      this.renderPanel();
      focusOn(document.getElementById("version-heading"));
    }
  }

  renderEditing() {
    const { base, editor, check, note } = this.editing;
    const conversation = h("input",
      {
        type: "text", id: "conversation-id", maxlength: LIMITS.conversation_id_chars,
        "aria-describedby": "conversation-hint",
      });
    const save = h("button", { type: "submit", class: "primary" }, "Save as a new version");
    const cancel = this.versions.length
      ? h("button", { type: "button", class: "quiet", onclick: () => this.stopEditing() }, "Cancel")
      : null;
    const form = h("form", { novalidate: true },
      editor.element,
      check.element,
      note.element,
      h("div", { class: "field" },
        h("label", { for: "conversation-id" }, "Conversation id"),
        h("p", { class: "hint", id: "conversation-hint" }, "Optional: the conversation that produced this version."),
        conversation),
      h("div", { class: "actions" }, save, cancel));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save(save, conversation.value.trim());
    });
    replace(this.panelEl,
      h("h2", { id: "version-heading" }, base ? `New version, based on version ${base.version}` : "First version"),
      h("p", {}, base
        ? `It is saved as the next version, a draft; version ${base.version} stays as it is.`
        : "It is saved as version 1, a draft. Nothing goes live until it is compiled and activated."),
      form);
  }

  async stopEditing() {
    if (this.editing.editor.dirty) {
      const discard = await this.ctx.confirm({
        title: "Discard this new version?",
        body: "What you wrote has not been saved.",
        confirm: "Discard",
        danger: true,
      });
      if (!discard) return;
    }
    this.editing = null;
    this.renderHistory();
    this.renderPanel();
    focusOn(document.getElementById("version-heading"));
  }

  async save(button, conversationId) {
    let doc;
    try {
      doc = this.editing.editor.value();
    } catch (error) {
      this.ctx.notify(error.message, "error");
      return;
    }
    const { note } = this.editing;
    if (!note.valid()) return;
    const body = { agent_blueprint: doc };
    if (conversationId) body.conversation_id = conversationId;
    if (note.value) body.message = note.value;
    button.disabled = true;
    try {
      const version = await api("POST", `${this.base}/blueprints`, { body });
      this.editing = null;
      await this.refresh(version.id);
      this.showVersionInAddress(version.id);
      this.render();
      this.ctx.notify(`Version ${version.version} saved as a draft.`);
      focusOn(document.getElementById("version-heading"));
    } catch (error) {
      button.disabled = false;
      if (error instanceof ApiError && error.status === 422 && this.editing) {
        // the note's problem next to the note, the blueprint's next to their fields, as a check shows them
        note.showProblem(error.errors);
        const inBlueprint = error.errors.filter((e) => e.field !== "message" && e.field !== "conversation_id");
        if (inBlueprint.length) this.editing.editor.showViolations(inBlueprint, "Not saved: fix these problems");
      }
      this.ctx.fail(error);
    }
  }

  showVersionInAddress(versionId) {
    const hash = `#/agents/${this.agentId}/versions/${versionId}`;
    if (window.location.hash !== hash) window.history.pushState(null, "", hash); // no hashchange: no reload
  }

  // -- compile, activate, roll back --------------------------------------------------------------------------------

  async compile(version, button) {
    button.disabled = true;
    try {
      const out = await api("POST", `${this.base}/blueprints/${version.id}/compile`);
      this.warnings.set(version.id, out.warnings || []);
      await this.refresh(version.id);
      this.render();
      const count = (out.warnings || []).length;
      const warned = count ? `, with ${plural(count, "warning", "warnings")}` : "";
      this.ctx.notify(`Version ${version.version} compiled${warned}. Its system prompt is shown below.`);
      focusOn(document.getElementById("compile-result"));
    } catch (error) {
      if (error instanceof ApiError && error.status === 422 && error.errors.length) {
        try {
          await this.refresh(version.id);
        } catch {
          // the compile answer already says what is wrong; the page shows the version as it was
        }
        this.render();
        const problems = plural(error.errors.length, "problem", "problems");
        const text = `Version ${version.version} did not compile: ${problems}, shown next to their fields.`;
        this.ctx.notify(text, "error");
        focusOn(this.versionEditor.summary);
      } else {
        button.disabled = false;
        this.ctx.fail(error);
      }
    }
  }

  async activate(version, button) {
    const live = this.live;
    const rollback = live && version.version < live.version;
    const off = this.agent.status !== "active"
      ? " The agent is deactivated, so its prompt is served only once it is reactivated." : "";
    const goesLive = live ? whatGoesLive(this.base, live, version, { note: version.message }) : null;
    const ok = await this.ctx.confirm(rollback
      ? {
        title: `Roll back to version ${version.version}?`,
        body: [
          `Version ${live.version} is live now. After the rollback, the agent serves the prompt of version `
            + `${version.version}.${off}`,
          `Version ${live.version} is kept and can be activated again later.`,
          goesLive,
        ],
        confirm: `Roll back to version ${version.version}`,
        wide: true,
      }
      : {
        title: `Activate version ${version.version}?`,
        body: [live
          ? `Version ${live.version} is live now. After this, the agent serves the prompt of version `
            + `${version.version}.${off}`
          : `The agent starts serving the prompt of version ${version.version}.${off}`, goesLive],
        confirm: `Activate version ${version.version}`,
        wide: Boolean(live),
      });
    if (!ok) return;
    button.disabled = true;
    try {
      await api("POST", `${this.base}/blueprints/${version.id}/activate`);
      await this.refresh(version.id);
      this.render();
      this.ctx.notify(rollback
        ? `Rolled back: version ${version.version} is live again.`
        : `Version ${version.version} is live.`);
      focusOn(document.getElementById("version-heading"));
    } catch (error) {
      button.disabled = false;
      this.ctx.fail(error);
    }
  }

  async setAgentStatus(action, button) {
    if (action === "deactivate") {
      const ok = await this.ctx.confirm({
        title: `Deactivate ${this.agent.name}?`,
        body: ["It keeps its versions, but serves no prompt until it is reactivated: runtimes asking for its "
          + "prompt get “not found”."],
        confirm: "Deactivate",
        danger: true,
      });
      if (!ok) return;
    }
    button.disabled = true;
    try {
      await api("POST", `${this.base}/${action}`);
      await this.refresh();
      this.render();
      const name = this.agent.name;
      this.ctx.notify(action === "deactivate" ? `${name} is deactivated.` : `${name} is active again.`);
      focusOn(this.main.querySelector("h1"));
    } catch (error) {
      button.disabled = false;
      this.ctx.fail(error);
    }
  }

  async deleteAgent(button) {
    const ok = await this.ctx.confirm({
      title: `Delete ${this.agent.name}?`,
      body: ["It stops serving its prompt at once and accepts no further change. Its history stays readable.",
        "This cannot be undone from this page."],
      confirm: "Delete agent",
      danger: true,
    });
    if (!ok) return;
    button.disabled = true;
    try {
      await api("DELETE", this.base);
      await this.refresh();
      this.editing = null;
      this.render();
      this.ctx.notify(`${this.agent.name} is deleted.`);
      focusOn(this.main.querySelector("h1"));
    } catch (error) {
      button.disabled = false;
      this.ctx.fail(error);
    }
  }

  async copy(text, pre, button) {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // no clipboard API (a page served over plain http from another host): select the text and copy it
      const range = document.createRange();
      range.selectNodeContents(pre);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      if (!document.execCommand("copy")) {
        this.ctx.notify("The browser did not allow copying. The prompt is selected: press Ctrl+C (⌘C).", "info");
        return;
      }
    }
    this.ctx.notify("The compiled prompt is copied to the clipboard.");
    button.focus();
  }
}
