// Runs inside the UML kernel (bridge VLAN filtering): every parity case of kind 'uml' (test/parity/cases.ts)
// through this plugin and through the reference bridge plugin 1.9.1 (and bookworm's 1.1.1 for the cases marked
// `bookworm`), recording each observation
// (test/parity/observe.ts) into the JSON file VB_PARITY_OUT for the host test (test/uml/parity.host.test.ts),
// which compares them. Nothing is compared here: a test fails only when a case could not be observed.
// The guest never builds: the host test hands over a private copy of the binary in VB_PLUGIN_BIN.
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CASES } from '../../parity/cases.js';
import { observe, pluginsFor, type Observation } from '../../parity/observe.js';

const OURS = process.env.VB_PLUGIN_BIN;
const OUT = process.env.VB_PARITY_OUT;
const got: Observation[] = [];

describe('parity cases in the UML kernel', () => {
  it('has the binary and an output file from the host test', () => {
    expect(OURS, 'VB_PLUGIN_BIN').toBeTruthy();
    expect(OUT, 'VB_PARITY_OUT').toBeTruthy();
  });

  for (const c of CASES.filter((x) => x.kernel === 'uml')) {
    for (const p of pluginsFor(c, OURS ?? '/nonexistent')) {
      it(`${c.name} through ${p.id}`, () => {
        const o = observe(c, p, { tmpDir: process.env.UML_WORK_DIR });
        got.push(o);
        // Written after every case, so a crash later still leaves what was observed.
        writeFileSync(OUT!, JSON.stringify(got, null, 1));
      });
    }
  }
});
