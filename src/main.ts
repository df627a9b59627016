// Entry point of bin/vlan-bridge: the CNI protocol, with the plugin's handlers loaded only when a command needs them.
import { runCni } from './cli.js';

void runCni(async () => (await import('./plugin/handlers.js')).handlers);
