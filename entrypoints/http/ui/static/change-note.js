// The change note written with a new version ("What changed?"): optional, at most CHANGE_NOTE.max_chars characters
// counted as the server counts them (code points: an emoji is one), shown in the history and with the version.

import { CHANGE_NOTE } from "./domain.js";
import { h, replace } from "./dom.js";

const MAX = CHANGE_NOTE.max_chars;
const NUMBER = new Intl.NumberFormat("en-US");
const length = (text) => [...text].length;

export class ChangeNote {
  constructor({ label = "What changed?", hint = "Optional: what you changed and why. It is shown in the history and "
    + "with the version." } = {}) {
    const id = "change-note";
    this.input = h("textarea", {
      id, rows: 2, "aria-describedby": `${id}-hint ${id}-count ${id}-error`, spellcheck: "true",
    });
    this.error = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
    this.count = h("p", { class: "hint count", id: `${id}-count` });
    this.element = h("div", { class: "field change-note" },
      h("label", { for: id }, label),
      h("p", { class: "hint", id: `${id}-hint` }, hint),
      this.error, this.input, this.count);
    this.input.addEventListener("input", () => this.update());
    this.update();
  }

  /** The note to send, trimmed; "" for none. */
  get value() {
    return this.input.value.trim();
  }

  update() {
    const used = length(this.value);
    const over = used > MAX;
    replace(this.count, `${NUMBER.format(used)} of ${NUMBER.format(MAX)} characters`);
    this.count.classList.toggle("over", over);
    if (!over && !this.error.hidden && this.error.dataset.local) this.clear();
  }

  clear() {
    this.error.hidden = true;
    delete this.error.dataset.local;
    this.input.removeAttribute("aria-invalid");
  }

  show(message, local = false) {
    replace(this.error, h("span", {}, message));
    this.error.hidden = false;
    if (local) this.error.dataset.local = "1";
    this.input.setAttribute("aria-invalid", "true");
  }

  /** False, with the reason next to the field and the focus on it, when the note is too long to be saved. */
  valid() {
    const used = length(this.value);
    if (used <= MAX) return true;
    this.show(`At most ${NUMBER.format(MAX)} characters: this note has ${NUMBER.format(used)}.`, true);
    this.input.focus();
    return false;
  }

  /** A refused save's violation of the note (`field` "message"), shown next to it. */
  showProblem(errors) {
    const problem = errors.find((e) => e.field === "message");
    if (problem) this.show(problem.message[0].toUpperCase() + problem.message.slice(1));
  }
}
