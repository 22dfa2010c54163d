import { describe, expect, it } from 'vitest';
import { mallocArenas, workerV8Flags } from './cluster-primary.js';

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

describe('mallocArenas', () => {
  it('2 for forked workers unless the operator set MALLOC_ARENA_MAX', () => {
    expect(mallocArenas({})).toBe('2');
    expect(mallocArenas({ MALLOC_ARENA_MAX: '' })).toBe('2');
    expect(mallocArenas({ MALLOC_ARENA_MAX: '4' })).toBe('4');
  });
});
