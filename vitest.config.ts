import { configDefaults, defineConfig } from 'vitest/config';

// Tiers: unit (no kernel), process (bin/vlan-bridge as a process), host (namespaces on this machine's kernel, root),
// uml (boots user-mode Linux), conformance (the reference's own bridge test suite against the executable), runtimes
// (containerd and podman run containers on vlan-bridge networks), k8s (kubelet's CRI calls through containerd and
// Multus, NetworkAttachmentDefinitions from an API server stand-in).
// Order (sequence.groupOrder): the projects whose files run side by side (unit, process) first, then those that run
// one file at a time (host, uml, conformance, runtimes), then k8s, whose Go build runs in the background until then.
// Vitest runs projects without file parallelism and without a groupOrder of their own after every numbered group,
// so the one-at-a-time projects name theirs: with k8s alone numbered, it would run before them.
const ONE_AT_A_TIME = { groupOrder: 1 };

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      // The built executable run as a process (builds it first when src/ is newer).
      { test: { name: 'process', include: ['test/process/**/*.test.ts'], testTimeout: 30_000, hookTimeout: 180_000 } },
      {
        test: {
          name: 'host',
          include: ['test/host/**/*.test.ts'],
          // Host-kernel tests create namespaces and bridges; files run one at a time to keep names apart.
          fileParallelism: false,
          sequence: ONE_AT_A_TIME,
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'uml',
          include: ['test/uml/**/*.host.test.ts'],
          fileParallelism: false,
          sequence: ONE_AT_A_TIME,
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
      {
        test: {
          name: 'conformance',
          include: ['test/conformance/**/*.test.ts'],
          // The reference's bridge suite, built once per run (Go, about a minute cold) and run three times, about
          // 25-40 s each, in namespaces it makes.
          fileParallelism: false,
          sequence: ONE_AT_A_TIME,
          testTimeout: 60_000,
          hookTimeout: 900_000,
        },
      },
      {
        test: {
          name: 'runtimes',
          include: ['test/runtimes/**/*.test.ts'],
          // Each file starts a runtime in a node of its own; one at a time, on machines with 2 cores.
          fileParallelism: false,
          sequence: ONE_AT_A_TIME,
          testTimeout: 120_000,
          hookTimeout: 360_000,
        },
      },
      {
        test: {
          name: 'k8s',
          include: ['test/k8s/**/*.test.ts'],
          // Run inside the UML kernel by test/k8s/uml.test.ts, never on this one.
          exclude: [...configDefaults.exclude, 'test/k8s/guest/**'],
          // One node at a time, after every other project: its Go parts (Multus, crictl) build in the background
          // meanwhile (test/run.mjs starts test/k8s/build.sh), and each file's first hook waits for them
          // (test/k8s/lab.ts, BUILD_WAIT_MS).
          fileParallelism: false,
          sequence: { groupOrder: 2 },
          testTimeout: 180_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
