// Model downloads: a dialog with a progress bar, shown when a pipeline's models are missing.

import { api, sleep } from "./api.js";
import { $ } from "./dom.js";

async function follow(pipelineId) {
  const bar = $("#download-progress");
  const text = $("#download-text");
  for (;;) {
    const status = await api.modelsStatus(pipelineId);
    if (status.downloaded) return true;
    const progress = status.progress;
    if (status.error) throw new Error(`download failed: ${status.error}`);
    if (progress) {
      bar.value = progress.percentage;
      const percent = progress.percentage.toFixed(1);
      text.textContent = `${progress.current_artifact || "…"} · ${percent} %`;
      if (!progress.is_downloading && !status.downloaded) throw new Error("the download stopped");
    }
    await sleep(1000);
  }
}

/** True when the pipeline's models are there, after downloading them if the user agrees. */
export async function ensureModels(schema) {
  if (!schema.requires_models) return true;
  const status = await api.modelsStatus(schema.id).catch(() => ({ downloaded: true }));
  if (status.downloaded) return true;
  const dialog = $("#download-dialog");
  $("#download-text").textContent = `${schema.name} needs its models (several GB) on this machine.`;
  $("#download-progress").value = 0;
  $("#download-start").disabled = false;
  dialog.showModal();
  return new Promise((resolve, reject) => {
    $("#download-cancel").onclick = () => {
      dialog.close();
      resolve(false);
    };
    $("#download-start").onclick = async () => {
      $("#download-start").disabled = true;
      try {
        if (!status.progress?.is_downloading) await api.downloadModels(schema.id);
        await follow(schema.id);
        dialog.close();
        resolve(true);
      } catch (error) {
        $("#download-text").textContent = error.message;
        $("#download-start").disabled = false;
        reject(error);
      }
    };
  });
}
