// Logging never touches stdout (it belongs to the CNI result). Lines go to stderr, or to the file named by
// VLAN_BRIDGE_LOG_FILE; debug lines only when VLAN_BRIDGE_DEBUG=1.
import { closeSync, constants, openSync, writeSync } from 'node:fs';

/**
 * Opening the log file never waits: O_NONBLOCK makes a FIFO without a reader fail (ENXIO) instead of blocking
 * open() until one comes; the line then goes to stderr.
 */
const LOG_FLAGS =
  constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK | constants.O_NOCTTY;
import type { Env } from './env.js';

export interface Logger {
  warn(msg: string): void;
  debug(msg: string): void;
}

export function makeLogger(env: Env, stderr: (s: string) => void): Logger {
  const file = env.VLAN_BRIDGE_LOG_FILE;
  const debugOn = env.VLAN_BRIDGE_DEBUG === '1';
  const write = (level: string, msg: string): void => {
    const line = `${new Date().toISOString()} vlan-bridge[${process.pid}] ${level} ${env.CNI_COMMAND ?? '-'} ${env.CNI_CONTAINERID ?? '-'}: ${msg}\n`;
    if (file) {
      try {
        const fd = openSync(file, LOG_FLAGS, 0o600);
        try {
          writeSync(fd, line);
        } finally {
          closeSync(fd);
        }
        return;
      } catch {
        // Fall back to stderr when the log file cannot be written.
      }
    }
    stderr(line);
  };
  return {
    warn: (msg) => write('warn', msg),
    debug: (msg) => {
      if (debugOn) write('debug', msg);
    },
  };
}
