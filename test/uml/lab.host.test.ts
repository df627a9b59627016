// Proves the UML tier runner itself (test/lab/uml.ts, test/lab/uml-vitest.ts): kernel features, exit codes,
// timeouts without leftovers, and vitest inside the guest reporting passes and failures.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, assertUmlAvailable, removeUmlDir, runInUml, type UmlResult } from '../lab/uml.js';
import { expectGuestPassed, runGuestVitest } from '../lab/uml-vitest.js';

const dirs: string[] = [];
const track = (r: UmlResult): UmlResult => (dirs.push(r.dir), r);
afterAll(() => dirs.forEach(removeUmlDir));

// Diagnostics for a failed expectation: the script output, then the end of the kernel console.
const why = (r: UmlResult): string =>
  `output:\n${r.output}\nconsole tail:\n${r.consoleLog.split('\n').slice(-15).join('\n')}`;

describe('runInUml', () => {
  it('gives the guest a VLAN-filtering bridge, 802.1q and an active-backup bond', async () => {
    const r = track(
      await runInUml({
        script: `set -eu
ip link add br0 type bridge vlan_filtering 1
ip link add dum0 type dummy
ip link add link dum0 name dum0.100 type vlan id 100
ip link add bond0 type bond mode active-backup
ip link add dum1 type dummy
ip link set dum1 master bond0
echo "CWD=$PWD MARK=$MARK"
ip -j -d link show > "$UML_WORK_DIR/links.json"
echo done`,
        env: { MARK: "it's marked" },
      }),
    );
    expect(r.timedOut, why(r)).toBe(false);
    expect(r.exitCode, why(r)).toBe(0);
    expect(r.output).toContain(`CWD=${REPO_ROOT} MARK=it's marked`);
    expect(r.output.trim().endsWith('done')).toBe(true);
    // The guest wrote into the work dir through hostfs: the host reads the same file.
    type Link = {
      ifname: string;
      master?: string;
      linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
    };
    const links = JSON.parse(fs.readFileSync(`${r.dir}/links.json`, 'utf8')) as Link[];
    const by = (n: string) => links.find((l) => l.ifname === n);
    expect(by('br0')?.linkinfo?.info_kind).toBe('bridge');
    expect(by('br0')?.linkinfo?.info_data?.vlan_filtering).toBe(1);
    expect(by('dum0.100')?.linkinfo?.info_kind).toBe('vlan');
    expect(by('dum0.100')?.linkinfo?.info_data?.id).toBe(100);
    expect(by('bond0')?.linkinfo?.info_kind).toBe('bond');
    expect(by('bond0')?.linkinfo?.info_data?.mode).toBe('active-backup');
    expect(by('dum1')?.master).toBe('bond0');
  });

  it('reports the script exit status', async () => {
    const r = track(await runInUml({ script: 'echo before; exit 3' }));
    expect(r.timedOut).toBe(false);
    expect(r.exitCode, why(r)).toBe(3);
    expect(r.output).toBe('before\n');
  });

  it('kills the instance on timeout and leaves no linux.uml process behind', async () => {
    const started = Date.now();
    const r = track(await runInUml({ script: 'echo started; sleep 120; echo never', timeoutMs: 6_000 }));
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).toBeNull();
    expect(Date.now() - started).toBeLessThan(20_000);
    // pgrep excludes itself; exit status 1 means no process matched.
    const pg = spawnSync('pgrep', ['-f', r.umid], { encoding: 'utf8' });
    expect(pg.stdout).toBe('');
    expect(pg.status).toBe(1);
  });

  it('says to run make deps when linux.uml is missing', () => {
    expect(() => assertUmlAvailable()).not.toThrow();
    expect(() => assertUmlAvailable('/nonexistent/linux.uml')).toThrow(/\/nonexistent\/linux\.uml.*make deps/);
  });

  it('throws rather than skipping on a bad env var name', async () => {
    await expect(runInUml({ script: 'true', env: { 'BAD-NAME': 'x' } })).rejects.toThrow(/invalid env var name/);
  });
});

describe('runGuestVitest', () => {
  it('runs the guest test files inside UML and reports them passed', async () => {
    const r = await runGuestVitest(['test/uml/guest/lab.guest.test.ts']);
    expectGuestPassed(r);
    expect(r.passed).toBeGreaterThan(0);
    expect(r.tests.every((t) => t.file === 'test/uml/guest/lab.guest.test.ts')).toBe(true);
    expect(r.tests.map((t) => t.fullName)).toContain('UML guest kernel gives a new bridge port VID 1 as PVID untagged');
  });

  it('reports a failing guest file as failed, with its failure message', async () => {
    const r = await runGuestVitest(['test/lab/fixtures/failing.guest.test.ts']);
    dirs.push(r.dir);
    expect(r.reportFound, r.output).toBe(true);
    expect(r.exitCode).toBe(1);
    expect(r.passed).toBe(1);
    expect(r.failed).toBe(1);
    const failed = r.tests.find((t) => t.status === 'failed');
    expect(failed?.fullName).toBe('fails on purpose in the guest');
    expect(failed?.failureMessages.join('\n')).toContain('deliberate failure marker');
    expect(() => expectGuestPassed(r)).toThrow(
      /FAILED .*fails on purpose in the guest[\s\S]*deliberate failure marker/,
    );
  });

  it('treats a run that executed no test as a failure', async () => {
    const r = await runGuestVitest(['test/uml/guest/does-not-exist.guest.test.ts']);
    dirs.push(r.dir);
    expect(r.passed).toBe(0);
    expect(() => expectGuestPassed(r)).toThrow();
  });
});
