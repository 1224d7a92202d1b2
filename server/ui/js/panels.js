// Side panels that follow the pipeline's capabilities: LoRA, VACE references, Spout.

import { api, assetUrl } from "./api.js";
import { $, el, notify } from "./dom.js";

/** LoRA files under models/lora: each with a switch, a merge mode and a scale. */
export class LoraPanel {
  constructor(send) {
    this.send = send;
    this.list = $("#lora-list");
    this.loaded = new Map(); // path -> merge mode, of what the loaded pipeline applies
  }

  async refresh() {
    const { lora_files: files } = await api.loras();
    this.list.replaceChildren(
      ...(files.length
        ? files.map((file) => this._row(file))
        : [el("p", { class: "hint" }, "No LoRA files in the models folder's lora/.")]),
    );
    this._notes();
  }

  _row(file) {
    const label = file.folder ? `${file.folder}/${file.name}` : file.name;
    const use = el("input", { type: "checkbox", "data-path": file.path });
    const mode = el(
      "select",
      { class: "merge-mode", "aria-label": `merge mode of ${label}` },
      el("option", { value: "permanent_merge" }, "merged"),
      el("option", { value: "runtime_peft" }, "runtime"),
    );
    const scale = el("input", {
      type: "range",
      min: -2,
      max: 2,
      step: 0.05,
      value: 1,
      "aria-label": `scale of ${label}`,
    });
    const readout = el("output", {}, "1");
    scale.addEventListener("input", () => (readout.textContent = scale.value));
    scale.addEventListener("change", () => {
      // Only runtime adapters change live; a merged LoRA waits for the next load.
      if (this.loaded.get(file.path) === "runtime_peft")
        this.send({ lora_scales: [{ path: file.path, scale: Number(scale.value) }] });
      this._notes();
    });
    for (const input of [use, mode]) input.addEventListener("change", () => this._notes());
    return el(
      "div",
      { class: "control lora", "data-path": file.path },
      el("label", { title: `${file.path} (${file.size_mb} MB)` }, use, ` ${label}`),
      mode,
      scale,
      readout,
      el("span", { class: "lora-note" }),
    );
  }

  _rows() {
    return [...this.list.querySelectorAll(".lora")];
  }

  /** The `loras` load param: the checked files with their scales and merge modes. */
  selected() {
    return this._rows()
      .filter((row) => row.querySelector("input[type=checkbox]").checked)
      .map((row) => ({
        path: row.dataset.path,
        scale: Number(row.querySelector("input[type=range]").value),
        merge_mode: row.querySelector(".merge-mode").value,
      }));
  }

  /** What the loaded pipeline applies (`loaded_lora_adapters`). */
  setLoaded(adapters) {
    this.loaded = new Map((adapters || []).map((adapter) => [adapter.path, adapter.merge_mode]));
    this._notes();
  }

  /** Each row says whether its settings are live or wait for the next load. */
  _notes() {
    for (const row of this._rows()) {
      const checked = row.querySelector("input[type=checkbox]").checked;
      const mode = row.querySelector(".merge-mode").value;
      const loaded = this.loaded.get(row.dataset.path);
      let note = "";
      if (loaded === "runtime_peft" && mode === "runtime_peft" && checked)
        note = "runtime adapter: the scale changes live";
      else if (loaded === "permanent_merge" && mode === "permanent_merge" && checked)
        note = "merged: a new scale applies at the next load";
      else if (loaded || checked) note = "applies at the next load";
      row.querySelector(".lora-note").textContent = note;
    }
  }
}

/** VACE: on/off and control source at load, reference images from assets, context scale. */
export class VacePanel {
  constructor(send) {
    this.send = send;
    this.thumbs = $("#vace-images");
    this.scale = $("#vace-scale");
    this.toggle = $("#vace-enabled");
    this.chosen = new Set();
    this.touched = false; // the artist chose on/off: mode changes keep their choice
    this.toggle.addEventListener("change", () => (this.touched = true));
    $("#vace-upload").addEventListener("change", (event) => this._upload(event.target.files[0]));
    $("#vace-send").addEventListener("click", () => this.send(this.message()));
    $("#vace-clear").addEventListener("click", () => {
      this.chosen.clear();
      for (const image of this.thumbs.querySelectorAll("img")) image.classList.remove("chosen");
      this.send({ vace_ref_images: [] });
    });
    this.scale.addEventListener(
      "input",
      () => ($("#vace-scale-value").textContent = this.scale.value),
    );
    this.scale.addEventListener("change", () =>
      this.send({ vace_context_scale: Number(this.scale.value) }),
    );
  }

  /** Scope's default: VACE on in text mode, off in video mode, unless the artist chose. */
  setMode(mode) {
    if (!this.touched) this.toggle.checked = mode === "text";
  }

  enabled() {
    return this.toggle.checked;
  }

  /** What a stream with VACE on starts with. */
  initial() {
    const initial = {
      vace_context_scale: Number(this.scale.value),
      vace_use_input_video: $("#vace-control").value === "input",
    };
    if (this.chosen.size) initial.vace_ref_images = [...this.chosen];
    return initial;
  }

  async refresh() {
    const { assets } = await api.images();
    this.thumbs.replaceChildren(...assets.map((asset) => this._thumb(asset.path)));
  }

  _thumb(path) {
    const image = el("img", { src: assetUrl(path), alt: path.split(/[\\/]/).pop(), title: path });
    image.classList.toggle("chosen", this.chosen.has(path));
    image.addEventListener("click", () => {
      if (this.chosen.has(path)) this.chosen.delete(path);
      else this.chosen.add(path);
      image.classList.toggle("chosen", this.chosen.has(path));
    });
    return image;
  }

  async _upload(file) {
    if (!file) return;
    if (file.size > 50 * 1024 * 1024) return notify(`${file.name} is over 50 MB`, "error");
    try {
      const asset = await api.uploadAsset(file);
      this.chosen.add(asset.path);
      await this.refresh();
    } catch (error) {
      notify(error.message, "error");
    }
  }

  message() {
    return { vace_ref_images: [...this.chosen], vace_context_scale: Number(this.scale.value) };
  }
}

/** Spout sender and receiver switches (Windows servers with SpoutGL). */
export class SpoutPanel {
  constructor(send) {
    this.send = send;
    for (const id of ["#spout-out", "#spout-out-name"]) {
      $(id).addEventListener("change", () => this.send({ spout_sender: this.sender() }));
    }
    for (const id of ["#spout-in", "#spout-in-name"]) {
      $(id).addEventListener("change", () => this.send({ spout_receiver: this.receiver() }));
    }
    $("#spout-refresh").addEventListener("click", () => this.refresh());
  }

  sender() {
    return {
      enabled: $("#spout-out").checked,
      name: $("#spout-out-name").value.trim() || "ScopeOut",
    };
  }

  receiver() {
    return { enabled: $("#spout-in").checked, name: $("#spout-in-name").value };
  }

  /** What a stream starts with: only the enabled ones. */
  initial() {
    const initial = {};
    if (this.sender().enabled) initial.spout_sender = this.sender();
    if (this.receiver().enabled) initial.spout_receiver = this.receiver();
    return initial;
  }

  /** Look for senders; where the server has no Spout, say why and disable the switches. */
  async refresh() {
    const pick = $("#spout-in-name");
    const current = pick.value;
    const { available, senders, reason } = await api.spoutSenders();
    for (const id of ["#spout-out", "#spout-out-name", "#spout-in", "#spout-in-name"]) {
      $(id).disabled = !available;
    }
    if (reason) $("#spout-note").textContent = reason;
    pick.replaceChildren(
      el("option", { value: "" }, "the active sender"),
      ...senders.map((name) => el("option", { value: name }, name)),
    );
    pick.value = senders.includes(current) ? current : "";
  }
}
