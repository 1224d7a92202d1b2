// Recording on the server: the record button, and the list of finished files to download.

import { api } from "./api.js";
import { $, el, notify } from "./dom.js";

const sizeText = (bytes) =>
  bytes < 1e6 ? `${Math.ceil(bytes / 1e3)} kB` : `${(bytes / 1e6).toFixed(1)} MB`;

/** The finished recordings on the server, newest first, with download links. */
export async function showRecordings() {
  const { recordings } = await api.recordings();
  $("#recordings").replaceChildren(
    ...recordings.map((recording) =>
      el(
        "li",
        {},
        el("a", { href: recording.url, download: recording.name }, recording.name),
        el("small", {}, ` ${sizeText(recording.bytes)}`),
      ),
    ),
  );
}

/** The record button of one stream: starts and stops the session's recording. */
export class RecordButton {
  constructor() {
    this.recording = null;
  }

  async toggle(sessionId) {
    try {
      if (this.recording) {
        const done = await api.stopRecording(sessionId);
        this.recording = null;
        notify(`Saved ${done.files.map((file) => file.name).join(", ")}`);
      } else {
        this.recording = await api.startRecording(sessionId, $("#record-input").checked);
      }
    } catch (error) {
      notify(error.message, "error");
    }
    this.show();
    await showRecordings();
  }

  /** The stream ended: the server closed its recording. */
  reset() {
    this.recording = null;
    this.show();
  }

  show() {
    $("#record").textContent = this.recording ? "■ Stop recording" : "● Record";
    $("#rec-indicator").hidden = !this.recording;
  }
}
