// The VLAN part of `make bench`, in the UML kernel (the host kernel has no bridge VLAN filtering): our access-VLAN
// ADD against our 2-4094 trunk ADD, and the reference 1.9.1's access ADD, interleaved. In UML every page fault is
// costly, so the absolute figures say nothing of a real node; the trunk / access ratio is the figure that matters.
import { copyFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { BIN } from '../test/lab/binary.js';
import { removeUmlDir, runInUml } from '../test/lab/uml.js';
import { CNI_PATH, REF, stats } from './common.js';

export async function umlVlan(rounds: number, tmp: string) {
  const bin = path.join(tmp, 'vlan-bridge');
  copyFileSync(BIN, bin);
  const script = `set -eu
ip netns add node; ip -n node link add br0 type bridge vlan_filtering 1; ip -n node link set br0 up
run() { # subject conf id -> µs
  ip netns add p; s=$(date +%s%N)
  printf '%s' "$2" | ip netns exec node env CNI_COMMAND=ADD CNI_CONTAINERID=$3 CNI_NETNS=/run/netns/p CNI_IFNAME=net1 CNI_PATH=${CNI_PATH} "$1" > /dev/null
  e=$(date +%s%N)
  printf '%s' "$2" | ip netns exec node env CNI_COMMAND=DEL CNI_CONTAINERID=$3 CNI_NETNS=/run/netns/p CNI_IFNAME=net1 CNI_PATH=${CNI_PATH} "$1" > /dev/null
  ip netns del p; echo $(( (e - s) / 1000 ))
}
access='{"cniVersion":"1.0.0","name":"a","type":"vlan-bridge","bridge":"br0","vlan":100,"ipam":{}}'
trunk='{"cniVersion":"1.0.0","name":"t","type":"vlan-bridge","bridge":"br0","vlanTrunk":[{"minID":2,"maxID":4094}],"ipam":{}}'
for i in $(seq 0 ${rounds}); do
  echo "access $(run ${bin} "$access" a$i)"; echo "trunk $(run ${bin} "$trunk" t$i)"; echo "ref-access $(run ${REF} "$access" r$i)"
done > "$UML_WORK_DIR/uml-bench.txt"`;
  const r = await runInUml({ script, timeoutMs: 600_000 });
  try {
    if (r.exitCode !== 0) throw new Error(`UML bench failed (${r.exitCode}):\n${r.output}`);
    // The first round warms up.
    const lines = readFileSync(path.join(r.dir, 'uml-bench.txt'), 'utf8').trim().split('\n').slice(3);
    const by = (k: string) => lines.filter((l) => l.startsWith(`${k} `)).map((l) => Number(l.split(' ')[1]) / 1000);
    const [access, trunk, refAccess] = [by('access'), by('trunk'), by('ref-access')];
    return {
      rounds,
      access: stats(access),
      trunk: stats(trunk),
      refAccess: stats(refAccess),
      trunkToAccess: stats(trunk.map((t, i) => t / access[i]!)),
      durationMs: r.durationMs,
    };
  } finally {
    removeUmlDir(r.dir);
  }
}
