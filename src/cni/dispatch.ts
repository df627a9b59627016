// Placeholder replaced by the real dispatcher.
export function runFromProcess(): void {
  process.stdout.write(JSON.stringify({ cniVersion: '1.1.0', supportedVersions: ['1.1.0'] }) + '\n');
}
