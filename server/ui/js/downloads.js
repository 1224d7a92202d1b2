// Model downloads: a dialog with a progress bar, shown when the models of a pipeline (or of
// the preprocessor before it) are missing.

import { api, sleep } from "./api.js";
import { $ } from "./dom.js";

/** "1.2 GB", "350 MB", "12 kB". */
function size(bytes) {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

/**
 * One line for a progress record: the file in flight, bytes done of all the pipeline's
 * files (servers that only report Scope's per-artifact percentage show that), and a retry
 * under way as such.
 */
function describe(progress) {
  const what = progress.current_file
    ? `${progress.current_artifact} · ${progress.current_file}`
    : progress.current_artifact || "…";
  const total = progress.bytes_total;
  const percent = `${(total ? (progress.bytes_done / total) * 100 : progress.percentage).toFixed(1)} %`;
  const amount = total ? `${size(progress.bytes_done)} of ${size(total)} · ${percent}` : percent;
  const retry = progress.retry;
  const again = retry
    ? ` · retrying (attempt ${retry.attempt} of ${retry.attempts}) after ${retry.reason}`
    : "";
  return `${what} · ${amount}${again}`;
}

async function follow(schema, several) {
  const bar = $("#download-progress");
  const text = $("#download-text");
  for (;;) {
    const status = await api.modelsStatus(schema.id);
    if (status.downloaded) return true;
    const progress = status.progress;
    if (progress?.error) throw new Error(progress.error);
    if (progress) {
      const total = progress.bytes_total;
      bar.value = total ? (progress.bytes_done / total) * 100 : progress.percentage;
      text.textContent = several ? `${schema.name}: ${describe(progress)}` : describe(progress);
      if (!progress.is_downloading) throw new Error("the download stopped");
    }
    await sleep(1000);
  }
}

/** The schemas whose models are not on this machine, each with its models status. */
async function missingModels(schemas) {
  const statuses = await Promise.all(
    schemas.map((schema) =>
      schema.requires_models
        ? api.modelsStatus(schema.id).catch(() => ({ downloaded: true }))
        : { downloaded: true },
    ),
  );
  return schemas
    .map((schema, i) => ({ schema, status: statuses[i] }))
    .filter(({ status }) => !status.downloaded);
}

/** "A", "A and B", "A, B and C". */
function names(missing) {
  const all = missing.map(({ schema }) => schema.name);
  return all.length > 1 ? `${all.slice(0, -1).join(", ")} and ${all.at(-1)}` : all[0];
}

/**
 * Resolves once the models of every schema (a preprocessor's, the pipeline's) are there, after
 * downloading the missing ones if the user agrees; rejects when they do not, or it fails.
 */
export async function ensureModels(schemas) {
  const missing = await missingModels(schemas);
  if (!missing.length) return;
  const needs = `${names(missing)} ${missing.length > 1 ? "need their" : "needs its"} models`;
  const dialog = $("#download-dialog");
  $("#download-text").textContent = `${needs} (several GB) on this machine.`;
  $("#download-progress").value = 0;
  $("#download-start").disabled = false;
  dialog.showModal();
  return new Promise((resolve, reject) => {
    $("#download-cancel").onclick = () => {
      dialog.close();
      reject(new Error(needs));
    };
    $("#download-start").onclick = async () => {
      $("#download-start").disabled = true;
      try {
        for (const { schema } of missing) {
          // Asked again: a retry after a failure skips what is there, joins what is running.
          const status = await api.modelsStatus(schema.id);
          if (status.downloaded) continue;
          if (!status.progress?.is_downloading) await api.downloadModels(schema.id);
          await follow(schema, missing.length > 1);
        }
        dialog.close();
        resolve();
      } catch (error) {
        $("#download-text").textContent = error.message;
        $("#download-start").disabled = false;
        reject(error);
      }
    };
  });
}
