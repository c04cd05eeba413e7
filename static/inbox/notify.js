// Telling an agent that a chat started waiting or that a private note mentions them:
// a short beep (WebAudio, no file), a browser notification, and the count in the tab
// title.

let audio = null;

/** Browsers only allow sound after the user did something: call on the first click/key. */
export function unlockSound() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!audio && Context) audio = new Context();
  if (audio && audio.state === "suspended") audio.resume().catch(() => {});
  if ("Notification" in window && Notification.permission === "default") {
    Notification.requestPermission().catch(() => {});
  }
}

export function beep() {
  if (!audio || audio.state !== "running") return;
  const now = audio.currentTime;
  const tone = audio.createOscillator();
  const gain = audio.createGain();
  tone.type = "sine";
  tone.frequency.setValueAtTime(880, now);
  tone.frequency.setValueAtTime(1320, now + 0.12);
  gain.gain.setValueAtTime(0.0001, now);
  gain.gain.exponentialRampToValueAtTime(0.25, now + 0.02);
  gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.3);
  tone.connect(gain).connect(audio.destination);
  tone.start(now);
  tone.stop(now + 0.32);
}

export function notify(title, body, tag, onClick) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  try {
    const note = new Notification(title, { body, tag });
    note.onclick = () => {
      window.focus();
      onClick();
      note.close();
    };
  } catch {
    // Some browsers only allow notifications from a service worker; the beep and
    // the title still tell the agent.
  }
}

const baseTitle = document.title;

export function setTitleCount(waiting) {
  document.title = waiting > 0 ? `(${waiting}) ${baseTitle}` : baseTitle;
}
