// Side panels that follow the pipeline's capabilities: LoRA, VACE references, Spout.

import { api, assetUrl } from "./api.js";
import { $, el, notify } from "./dom.js";

/** LoRA files under models/lora, each with a switch and a scale. */
export class LoraPanel {
  constructor(send) {
    this.send = send;
    this.list = $("#lora-list");
    this.loaded = new Set(); // adapters the pipeline loaded for runtime scaling
  }

  async refresh() {
    const { lora_files: files } = await api.loras();
    this.list.replaceChildren(
      ...(files.length
        ? files.map((file) => this._row(file))
        : [el("p", { class: "hint" }, "No LoRA files in the models folder's lora/.")]),
    );
  }

  _row(file) {
    const label = file.folder ? `${file.folder}/${file.name}` : file.name;
    const use = el("input", { type: "checkbox", "data-path": file.path });
    const scale = el("input", { type: "range", min: -2, max: 2, step: 0.05, value: 1 });
    const readout = el("output", {}, "1");
    scale.addEventListener("input", () => (readout.textContent = scale.value));
    scale.addEventListener("change", () => {
      if (this.loaded.has(file.path))
        this.send({ lora_scales: [{ path: file.path, scale: Number(scale.value) }] });
    });
    return el(
      "div",
      { class: "control lora" },
      el("label", { title: `${file.path} (${file.size_mb} MB)` }, use, ` ${label}`),
      scale,
      readout,
    );
  }

  /** The `loras` load param: the checked files with their scales. */
  selected() {
    return [...this.list.querySelectorAll(".lora")]
      .filter((row) => row.querySelector("input[type=checkbox]").checked)
      .map((row) => ({
        path: row.querySelector("input[type=checkbox]").dataset.path,
        scale: Number(row.querySelector("input[type=range]").value),
      }));
  }

  setLoaded(adapters) {
    this.loaded = new Set((adapters || []).map((adapter) => adapter.path));
  }
}

/** Reference images from the assets folder: upload, pick, send. */
export class VacePanel {
  constructor(send) {
    this.send = send;
    this.thumbs = $("#vace-images");
    this.scale = $("#vace-scale");
    this.chosen = new Set();
    $("#vace-upload").addEventListener("change", (event) => this._upload(event.target.files[0]));
    $("#vace-send").addEventListener("click", () => this.send(this.message()));
    this.scale.addEventListener("change", () =>
      this.send({ vace_context_scale: Number(this.scale.value) }),
    );
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
