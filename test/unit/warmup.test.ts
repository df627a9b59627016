// The build-time warm-up (src/warmup.ts) must walk the paths real calls take: every request it sends succeeds
// except the two meant to fail, and those fail with the codes a real call would get.
import { describe, expect, it } from 'vitest';
import { warmUp } from '../../src/warmup.js';

describe('snapshot warm-up', () => {
  it('sends ADD, DEL and CHECK through every kind of config, then VERSION and two bad requests', async () => {
    const done = await warmUp();
    const failed = done.filter((d) => d.code !== 0).map((d) => [d.what, JSON.parse(d.out).code]);
    expect(failed).toEqual([
      ['ADD invalid config', 7],
      ['ADD bad environment', 4],
    ]);
    expect(done.map((d) => d.what.split(' ')[0])).toEqual([
      ...['ADD', 'DEL', 'CHECK', 'ADD', 'DEL', 'ADD', 'DEL', 'CHECK', 'ADD', 'DEL', 'CHECK'],
      'VERSION',
      'ADD',
      'ADD',
    ]);
    // ADD results are converted to each config's version.
    const adds = done.filter((d) => d.what.startsWith('ADD') && d.code === 0).map((d) => JSON.parse(d.out).cniVersion);
    expect(adds).toEqual(['1.0.0', '0.3.1', '1.1.0', '0.4.0']);
  });
});
