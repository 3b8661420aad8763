// A minimal RFC 6455 WebSocket server side for the mock node (text frames, ping/pong, close), so the
// mock needs no npm dependency.

import { createHash } from 'node:crypto';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export function acceptUpgrade(req, socket) {
  const key = req.headers['sec-websocket-key'];
  if (!key) { socket.destroy(); return null; }
  const accept = createHash('sha1').update(key + GUID).digest('base64');
  socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${accept}\r\n\r\n`);
  socket.setNoDelay(true);
  const conn = {
    open: true,
    onclose: null,
    send(text) {
      if (!conn.open) return;
      socket.write(frame(0x1, Buffer.from(text)));
    },
    close() {
      if (!conn.open) return;
      conn.open = false;
      try { socket.write(frame(0x8, Buffer.alloc(0))); } catch { /* gone */ }
      socket.end();
      setTimeout(() => socket.destroy(), 100);
    },
    kill() { conn.open = false; socket.destroy(); },
  };
  let buf = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const f = parse(buf);
      if (!f) break;
      buf = buf.subarray(f.length);
      if (f.opcode === 0x8) { conn.close(); }
      else if (f.opcode === 0x9) socket.write(frame(0xA, f.payload));
    }
  });
  const done = () => { if (conn.open) conn.open = false; if (conn.onclose) { const c = conn.onclose; conn.onclose = null; c(); } };
  socket.on('close', done);
  socket.on('error', done);
  return conn;
}

function frame(opcode, payload) {
  const len = payload.length;
  let head;
  if (len < 126) head = Buffer.from([0x80 | opcode, len]);
  else if (len < 65536) { head = Buffer.alloc(4); head[0] = 0x80 | opcode; head[1] = 126; head.writeUInt16BE(len, 2); }
  else { head = Buffer.alloc(10); head[0] = 0x80 | opcode; head[1] = 127; head.writeBigUInt64BE(BigInt(len), 2); }
  return Buffer.concat([head, payload]);
}

function parse(buf) {
  if (buf.length < 2) return null;
  const opcode = buf[0] & 0x0f;
  const masked = (buf[1] & 0x80) !== 0;
  let len = buf[1] & 0x7f;
  let off = 2;
  if (len === 126) { if (buf.length < 4) return null; len = buf.readUInt16BE(2); off = 4; }
  else if (len === 127) { if (buf.length < 10) return null; len = Number(buf.readBigUInt64BE(2)); off = 10; }
  const maskOff = off;
  if (masked) off += 4;
  if (buf.length < off + len) return null;
  const payload = Buffer.from(buf.subarray(off, off + len));
  if (masked) for (let i = 0; i < len; i += 1) payload[i] ^= buf[maskOff + (i % 4)];
  return { opcode, payload, length: off + len };
}
