import { defineConfig } from 'vitest/config';

// Config for vitest running INSIDE user-mode Linux (see test/lab/uml-vitest.ts); the host-side "uml" project in
// vitest.config.ts only matches *.host.test.ts, so guest files never run on the host kernel by accident.
// VB_GUEST_INCLUDE (comma-separated globs) replaces the include list: runGuestVitest sets it to the files it is
// asked to run, which lets it run fixtures that live outside test/uml/guest (e.g. a deliberately failing file).
// UML_WORK_DIR (exported by runInUml) holds each guest run's vite/vitest cache, so concurrent runs and the host's
// own vitest never write the same cache files.
const include = process.env.VB_GUEST_INCLUDE?.split(',').filter(Boolean);

export default defineConfig({
  cacheDir: process.env.UML_WORK_DIR ? `${process.env.UML_WORK_DIR}/vite-cache` : 'node_modules/.vite-uml-guest',
  test: {
    include: include?.length ? include : ['test/uml/guest/**/*.guest.test.ts'],
    // One guest kernel, one CPU: files share the kernel's network state, so run them one at a time.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
  },
});
