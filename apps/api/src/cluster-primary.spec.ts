import { describe, expect, it } from 'vitest';
import { workerMallocEnv, workerV8Flags } from './cluster-primary.js';

describe('workerV8Flags', () => {
  it('gives forked workers the configured old-space and semi-space limits', () => {
    expect(workerV8Flags({ heapLimitMb: 192, semiSpaceMb: 4 }, [])).toEqual([
      '--max-old-space-size=192',
      '--max-semi-space-size=4',
    ]);
  });

  it('0 leaves a limit at Node’s default', () => {
    expect(workerV8Flags({ heapLimitMb: 0, semiSpaceMb: 4 }, [])).toEqual(['--max-semi-space-size=4']);
    expect(workerV8Flags({ heapLimitMb: 0, semiSpaceMb: 0 }, [])).toEqual([]);
  });

  it('an operator’s own flag (NODE_OPTIONS or the command line, either spelling) wins', () => {
    expect(workerV8Flags({ heapLimitMb: 192, semiSpaceMb: 4 }, ['--max_old_space_size=512'])).toEqual([
      '--max-semi-space-size=4',
    ]);
    expect(workerV8Flags({ heapLimitMb: 192, semiSpaceMb: 4 }, ['', '--max-semi-space-size=8'])).toEqual([
      '--max-old-space-size=192',
    ]);
  });
});

describe('workerMallocEnv', () => {
  it('2 arenas and a fixed 128 KB mmap threshold for forked workers unless the operator set them', () => {
    expect(workerMallocEnv({})).toEqual({ MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' });
    expect(workerMallocEnv({ MALLOC_ARENA_MAX: '', MALLOC_MMAP_THRESHOLD_: '' })).toEqual({
      MALLOC_ARENA_MAX: '2',
      MALLOC_MMAP_THRESHOLD_: '131072',
    });
    expect(workerMallocEnv({ MALLOC_ARENA_MAX: '4', MALLOC_MMAP_THRESHOLD_: '65536' })).toEqual({
      MALLOC_ARENA_MAX: '4',
      MALLOC_MMAP_THRESHOLD_: '65536',
    });
  });
});
