// The UI's timeline keeps the node's order (sent time, then id) however pages arrive: an older page
// that shares a millisecond with what is loaded lands wholly above it. No browser: timeline.js is
// plain JavaScript.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Timeline } from '../../web-ui/app/timeline.js';

const at = (ms) => new Date(Date.UTC(2026, 11, 2, 12, 0, 0, ms)).toISOString();
const message = (id, ms) => ({ id, room_id: 'public', author: 'a', text: id, sent_at: at(ms) });

describe('timeline order', () => {
  it('merges an older page sharing a millisecond above what is loaded, as the node orders them', () => {
    // the node's order: (sent_at, id)
    const all = [message('0a', 1), message('1f', 2), message('2c', 2), message('3b', 2), message('4e', 2), message('5d', 3)];
    const t = new Timeline('public');
    t.merge(all.slice(3)); // the newest page first, as on opening a room
    t.merge(all.slice(0, 3)); // then the page before it, which shares the millisecond 2
    assert.deepEqual(t.messages.map((m) => m.id), all.map((m) => m.id));
  });

  it('places a live message by its time and id, and keeps pending local ones last in the order sent', () => {
    const t = new Timeline('public');
    t.merge([message('10', 5), message('30', 5)]);
    t.upsert({ ...message('local-2', 9), _local: true });
    t.upsert({ ...message('local-1', 9), _local: true });
    t.upsert(message('20', 5));
    assert.deepEqual(t.messages.map((m) => m.id), ['10', '20', '30', 'local-2', 'local-1']);
    assert.equal(t.indexOf('20'), 1);
    assert.equal(t.indexOf('local-1'), 4);
  });
});
