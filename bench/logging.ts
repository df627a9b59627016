// `make bench-logging`: what a logging library would add to one plugin call (issue 18). Each candidate is compiled
// by the pinned Bun with the flags of scripts/build.mjs into an executable that appends one JSON line to a file
// and exits, as a plugin process that lives ~20 ms would; the executables run interleaved, RUNS times each, each
// under GNU time for its peak RSS, with the wall time taken around it. "own" is this repository's way (node:fs,
// one write(2) per line on an O_APPEND descriptor: src/cni/log-file.ts); "floor" loads node:fs, as the plugin
// always does, and writes nothing.
//
// The candidates are installed from npm into a temporary directory (exact versions below), not into the project:
// none of them is a dependency. Prints a Markdown table; the README's "Logs" section quotes it.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../test/lab/binary.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 40);
const BUN = path.join(ROOT, 'node_modules/@oven/bun-linux-x64/bin/bun');
const PACKAGES = ['pino@10.4.0', 'winston@3.19.0', 'log4js@6.9.1'];

const LINE = `{ cmd: 'ADD', network: 'untagged', container: 'c1', ifname: 'net1', outcome: 'ok', ms: 12.5 }`;
const VARIANTS: Record<string, string> = {
  floor: `import { fstatSync } from 'node:fs';
process.exitCode = fstatSync(2).isFile() ? 0 : 0;`,
  own: `import { closeSync, constants as K, openSync, writeSync } from 'node:fs';
const fd = openSync(process.env.LOG!, K.O_WRONLY | K.O_APPEND | K.O_CREAT | K.O_NONBLOCK, 0o600);
writeSync(fd, Buffer.from(JSON.stringify({ time: new Date().toISOString(), level: 'info', ...${LINE} }) + '\\n'));
closeSync(fd);`,
  pino: `import pino from 'pino';
const log = pino({ timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: process.env.LOG!, sync: true, append: true }));
log.info(${LINE});`,
  winston: `import winston from 'winston';
const log = winston.createLogger({ format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
  transports: [new winston.transports.File({ filename: process.env.LOG! })] });
log.info('ok', ${LINE});
log.on('finish', () => process.exit(0)); log.end();`,
  log4js: `import log4js from 'log4js';
log4js.configure({ appenders: { f: { type: 'file', filename: process.env.LOG!, layout: { type: 'pattern', pattern: '%m' } } },
  categories: { default: { appenders: ['f'], level: 'info' } } });
log4js.getLogger().info(JSON.stringify(${LINE}));
log4js.shutdown(() => process.exit(0));`,
};

type Stats = { median: number; p95: number };
const stats = (xs: number[]): Stats => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { median: q(0.5), p95: q(0.95) };
};

const dir = mkdtempSync(path.join(os.tmpdir(), 'vb-bench-logging-'));
try {
  writeFileSync(path.join(dir, 'package.json'), '{"private":true,"type":"module"}');
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--silent', ...PACKAGES], { cwd: dir, stdio: 'inherit' });
  const bins: Record<string, string> = {};
  for (const [name, src] of Object.entries(VARIANTS)) {
    writeFileSync(path.join(dir, `${name}.ts`), src);
    bins[name] = path.join(dir, `${name}.bin`);
    execFileSync(
      BUN,
      [
        'build',
        `${name}.ts`,
        '--compile',
        '--bytecode',
        '--minify',
        '--compile-jit-policy=1000',
        '--no-compile-autoload-dotenv',
        '--no-compile-autoload-bunfig',
        `--outfile=${bins[name]}`,
      ],
      { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] },
    );
  }
  const ms: Record<string, number[]> = {};
  const rss: Record<string, number[]> = {};
  for (let i = 0; i < RUNS; i++) {
    for (const name of Object.keys(bins)) {
      const log = path.join(dir, `${name}.log`);
      const t0 = process.hrtime.bigint();
      const r = spawnSync('/usr/bin/time', ['-f', 'RSS %M', bins[name]!], { env: { LOG: log }, encoding: 'utf8' });
      const wall = Number(process.hrtime.bigint() - t0) / 1e6;
      const m = /RSS (\d+)\s*$/.exec(r.stderr);
      if (r.status !== 0 || !m) throw new Error(`${name} failed: ${r.stderr}`);
      (ms[name] ??= []).push(wall);
      (rss[name] ??= []).push(Number(m[1]) / 1024);
    }
  }
  for (const name of Object.keys(bins).filter((n) => n !== 'floor')) {
    const lines = readFileSync(path.join(dir, `${name}.log`), 'utf8')
      .trim()
      .split('\n');
    if (lines.length !== RUNS) throw new Error(`${name} wrote ${lines.length} lines, not ${RUNS}`);
  }
  const base = stats(rss.floor!).median;
  const baseMs = stats(ms.floor!).median;
  const out = [
    `Logging candidates, ${RUNS} interleaved runs each, ${os.cpus()[0]?.model ?? 'cpu'}, bun ${spawnSync(BUN, ['--version'], { encoding: 'utf8' }).stdout.trim()}`,
    '',
    '| executable | wall ms median / p95 | peak RSS MiB median / p95 | over floor: ms / MiB | size MiB |',
    '| --- | --- | --- | --- | --- |',
    ...Object.keys(bins).map((name) => {
      const t = stats(ms[name]!);
      const r = stats(rss[name]!);
      const size = (readFileSync(bins[name]!).length / 1048576).toFixed(1);
      return `| ${name} | ${t.median.toFixed(1)} / ${t.p95.toFixed(1)} | ${r.median.toFixed(1)} / ${r.p95.toFixed(1)} | ${(t.median - baseMs).toFixed(1)} / ${(r.median - base).toFixed(1)} | ${size} |`;
    }),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
