// One WebRTC session with the server: offer/answer, trickle ICE, the data channel and stats.

import { api } from "./api.js";

const FALLBACK_ICE = [{ urls: "stun:stun.l.google.com:19302" }];

export class Stream {
  /**
   * @param {object} handlers onVideo(MediaStream), onMessage(object), onClosed(errorText|null)
   */
  constructor({ onVideo, onMessage, onClosed }) {
    this.onVideo = onVideo;
    this.onMessage = onMessage;
    this.onClosed = onClosed;
    this.sessionId = null;
    this.pc = null;
    this.channel = null;
    this.sender = null;
    this._previous = null;
    this._closed = false;
  }

  /** Connect: `track` is the input video (null: receive only, as in text mode). */
  async start(track, initialParameters) {
    let iceServers = FALLBACK_ICE;
    try {
      iceServers = (await api.iceServers()).iceServers;
    } catch (error) {
      console.warn("ICE servers unavailable, using public STUN", error);
    }
    const pc = (this.pc = new RTCPeerConnection({ iceServers }));
    this.channel = pc.createDataChannel("parameters", { ordered: true });
    this.channel.onmessage = (event) => this.onMessage(JSON.parse(event.data));
    if (track) {
      this.sender = pc.addTrack(track, new MediaStream([track]));
    } else {
      pc.addTransceiver("video"); // sendrecv with no track: the server still sends video
    }
    pc.ontrack = (event) => this.onVideo(event.streams[0] || new MediaStream([event.track]));
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "failed") this.close("the connection to the server failed");
    };

    const early = [];
    pc.onicecandidate = ({ candidate }) => {
      if (!candidate || !candidate.candidate) return;
      const plain = {
        candidate: candidate.candidate,
        sdpMid: candidate.sdpMid,
        sdpMLineIndex: candidate.sdpMLineIndex,
      };
      if (this.sessionId) this._trickle([plain]);
      else early.push(plain);
    };
    await pc.setLocalDescription(await pc.createOffer());
    const answer = await api.offer({
      sdp: pc.localDescription.sdp,
      type: pc.localDescription.type,
      initialParameters,
    });
    this.sessionId = answer.sessionId;
    await pc.setRemoteDescription({ type: answer.type, sdp: answer.sdp });
    if (early.length) this._trickle(early);
  }

  _trickle(candidates) {
    api.addCandidates(this.sessionId, candidates).catch((error) => console.warn(error));
  }

  /** Send a parameter update; false when the channel is not open (yet). */
  send(update) {
    if (!this.channel || this.channel.readyState !== "open") return false;
    this.channel.send(JSON.stringify(update));
    return true;
  }

  /** Swap the input video without renegotiating. */
  async replaceInput(track) {
    if (this.sender) await this.sender.replaceTrack(track);
  }

  /** Frame rate, size and network delays of the received video, from WebRTC's own stats. */
  async stats() {
    if (!this.pc) return null;
    const report = await this.pc.getStats();
    let video = null;
    let rttMs = null;
    report.forEach((entry) => {
      if (entry.type === "inbound-rtp" && entry.kind === "video") video = entry;
      if (entry.type === "candidate-pair" && entry.nominated && entry.currentRoundTripTime) {
        rttMs = entry.currentRoundTripTime * 1000;
      }
    });
    if (!video) return null;
    const previous = this._previous;
    this._previous = { time: video.timestamp, frames: video.framesDecoded || 0 };
    const fps =
      previous && video.timestamp > previous.time
        ? ((video.framesDecoded - previous.frames) * 1000) / (video.timestamp - previous.time)
        : video.framesPerSecond || 0;
    const jitterMs = video.jitterBufferEmittedCount
      ? (video.jitterBufferDelay / video.jitterBufferEmittedCount) * 1000
      : null;
    return {
      fps,
      width: video.frameWidth || 0,
      height: video.frameHeight || 0,
      rttMs,
      jitterMs,
      framesDecoded: video.framesDecoded || 0,
    };
  }

  close(errorText = null) {
    if (this._closed) return;
    this._closed = true;
    if (this.pc) this.pc.close();
    this.onClosed(errorText);
  }
}
