// Keyboard and pointer shortcuts: Space pauses, F (or a double-click) toggles fullscreen.

import { $, notify } from "./dom.js";

/** The output (with its readouts) fills the screen, for a projector; again to leave. */
function toggleFullscreen() {
  if (document.fullscreenElement) document.exitFullscreen();
  else
    $(".output")
      .requestFullscreen()
      .catch((error) => notify(error.message, "error"));
}

/** Wire the shortcuts; `pause()` toggles pause. Keys typed into a field are left alone. */
export function bindShortcuts({ pause }) {
  $("#fullscreen").addEventListener("click", toggleFullscreen);
  $(".output").addEventListener("dblclick", toggleFullscreen);
  document.addEventListener("keydown", (event) => {
    const typing = event.target.closest("input, textarea, select, button, [contenteditable]");
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.code === "Space") {
      event.preventDefault();
      pause();
    } else if (event.code === "KeyF") {
      toggleFullscreen();
    }
  });
}
