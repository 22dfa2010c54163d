import { describe, expect, it } from 'vitest';
import type { EntityManager } from 'typeorm';
import { UploadEvents } from './upload-events.js';

const event = { manager: {} as EntityManager, upload: { id: 'u1', userId: 7 } };

describe('UploadEvents', () => {
  it('runs every handler in registration order and returns their after-commit work in that order', async () => {
    const events = new UploadEvents();
    const calls: string[] = [];
    events.on('deleted', async () => {
      calls.push('a');
      return async () => void calls.push('a after');
    });
    events.on('deleted', async () => void calls.push('b'));
    events.on('deleted', async () => {
      calls.push('c');
      return async () => void calls.push('c after');
    });
    const after = await events.emit('deleted', event);
    expect(calls).toEqual(['a', 'b', 'c']);
    expect(after).toHaveLength(2);
    for (const work of after) await work();
    expect(calls).toEqual(['a', 'b', 'c', 'a after', 'c after']);
  });

  it('a throwing handler rejects the emit and later handlers do not run', async () => {
    const events = new UploadEvents();
    const calls: string[] = [];
    events.on('deleted', async () => {
      throw new Error('no');
    });
    events.on('deleted', async () => void calls.push('late'));
    await expect(events.emit('deleted', event)).rejects.toThrow('no');
    expect(calls).toEqual([]);
  });

  it('keeps events apart and removes only the handler whose off() is called', async () => {
    const events = new UploadEvents();
    const calls: string[] = [];
    const off = events.on('deleted', async () => void calls.push('deleted 1'));
    events.on('deleted', async () => void calls.push('deleted 2'));
    off();
    off();
    await events.emit('deleted', event);
    expect(await events.emit('committed', { manager: event.manager, upload: event.upload as never })).toEqual([]);
    expect(calls).toEqual(['deleted 2']);
  });
});
