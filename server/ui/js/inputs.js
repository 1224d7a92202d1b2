// Input video for video mode: the camera, the bundled loop, or a file the user picks.

export const BUNDLED_LOOP = "/ui/media/loop.mp4";
const FILE_FPS = 15;

/** Plays a video file in a loop and captures it as a track (from the element when the
 *  browser can, else through a canvas). */
async function fileTrack(preview, url) {
  preview.srcObject = null;
  preview.src = url;
  preview.loop = true;
  preview.muted = true;
  await preview.play();
  if (preview.captureStream) {
    const [track] = preview.captureStream(FILE_FPS).getVideoTracks();
    if (track) return { track, stop: () => preview.pause() };
  }
  const canvas = document.createElement("canvas");
  canvas.width = preview.videoWidth;
  canvas.height = preview.videoHeight;
  const context = canvas.getContext("2d");
  const timer = setInterval(() => context.drawImage(preview, 0, 0), 1000 / FILE_FPS);
  const [track] = canvas.captureStream(FILE_FPS).getVideoTracks();
  return { track, stop: () => (clearInterval(timer), preview.pause()) };
}

/**
 * Opens an input: `kind` is "camera", "loop" or "file" (with `file`). Returns
 * {track, size: [w, h], stop()}; the preview element shows it.
 */
export async function openInput(kind, preview, file = null) {
  let opened;
  if (kind === "camera") {
    const media = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 512 }, height: { ideal: 512 }, frameRate: { ideal: 30, max: 30 } },
    });
    preview.src = "";
    preview.srcObject = media;
    await preview.play();
    const [track] = media.getVideoTracks();
    opened = { track, stop: () => track.stop() };
  } else if (kind === "file") {
    if (!file) throw new Error("choose a video file first");
    opened = await fileTrack(preview, URL.createObjectURL(file));
  } else {
    opened = await fileTrack(preview, BUNDLED_LOOP);
  }
  const settings = opened.track.getSettings();
  opened.size = [settings.width || preview.videoWidth, settings.height || preview.videoHeight];
  return opened;
}
