// The live event WebSocket (/api/v1/events): connects with the session cookie, reconnects by itself with
// exponential backoff and jitter, and reports frames and connection state to its listeners.

const MIN_DELAY = 500;
const MAX_DELAY = 15000;

export class EventSocket {
  constructor({ onFrame, onState, onReconnected, onGiveUpCheck }) {
    this.onFrame = onFrame;
    this.onState = onState;
    this.onReconnected = onReconnected;
    this.onGiveUpCheck = onGiveUpCheck; // async () => boolean: false stops reconnecting (logged out)
    this.ws = null;
    this.attempt = 0;
    this.everOpened = false;
    this.stopped = false;
    this.timer = null;
    this.state = 'connecting';
    this.onOnline = () => { if (this.state === 'reconnecting') this.reconnectNow(); };
    window.addEventListener('online', this.onOnline);
  }

  url() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${proto}//${location.host}/api/v1/events`;
  }

  setState(s) {
    if (this.state === s) return;
    this.state = s;
    this.onState(s);
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  connect() {
    clearTimeout(this.timer);
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      const wasReconnect = this.everOpened;
      this.everOpened = true;
      this.attempt = 0;
      this.setState('open');
      if (wasReconnect && this.onReconnected) this.onReconnected();
    };
    ws.onmessage = (ev) => {
      let frame;
      try { frame = JSON.parse(ev.data); } catch { return; }
      if (frame && typeof frame.type === 'string') this.onFrame(frame);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (!this.stopped) this.scheduleReconnect();
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  async scheduleReconnect() {
    this.setState(this.everOpened ? 'reconnecting' : 'connecting');
    this.attempt += 1;
    if (this.attempt % 3 === 0 && this.onGiveUpCheck) {
      const keepGoing = await this.onGiveUpCheck();
      if (!keepGoing) { this.stop(); return; }
    }
    const base = Math.min(MAX_DELAY, MIN_DELAY * 2 ** Math.min(this.attempt - 1, 8));
    const delay = base / 2 + Math.random() * base / 2;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    if (this.ws || this.stopped) return;
    this.connect();
  }

  /** Drops the socket as if the network failed (used by tests and after sleep). */
  drop() {
    if (this.ws) this.ws.close();
  }

  /** Closes the socket and stays away until resume() (tests use it to simulate an outage). */
  suspend() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) { const ws = this.ws; this.ws = null; ws.close(); }
    this.setState('reconnecting');
  }

  resume() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    window.removeEventListener('online', this.onOnline);
    if (this.ws) { const ws = this.ws; this.ws = null; ws.close(); }
  }
}
