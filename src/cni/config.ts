// The network configuration: every key of the reference bridge plugin (containernetworking/plugins
// plugins/main/bridge, v1.9) with its default, plus the standard CNI keys. Unknown keys are ignored, as the
// reference ignores them. Problems are reported all at once as `path: message (got value)`.
import { z } from './zod.js';
import { CniError, Code, got, listed, show } from './errors.js';
import { MAX_IFNAME, NAME_RE, ifnameProblem, macProblem, normalizeMac, utf8Bytes } from './names.js';
import { DEFAULT_LOG_DIR, LOG_LEVELS, isConfigLogPath } from './log.js';
import { mergeSpans, type VidSpan } from '../vids.js';

/**
 * Default of `ipamTimeout`, in seconds. A runtime bounds the whole pod set-up (kubelet's --runtime-request-timeout
 * is 2 minutes); an ADD may call IPAM twice (ADD, then DEL to roll back), each for at most the timeout plus
 * IPAM_GRACE_MS, so 45 s keeps even that under the runtime's own limit.
 */
export const DEFAULT_IPAM_TIMEOUT_S = 45;

const vid = z.int().check(z.gte(1), z.lte(4094));

const trunkEntry = z.looseObject({ id: z.optional(vid), minID: z.optional(vid), maxID: z.optional(vid) }).check(
  z.superRefine((e, ctx) => {
    const hasMin = e.minID !== undefined;
    const hasMax = e.maxID !== undefined;
    if (hasMin !== hasMax) ctx.addIssue({ code: 'custom', input: e, message: 'minID and maxID must be set together' });
    else if (hasMin && e.minID! > e.maxID!)
      ctx.addIssue({ code: 'custom', input: e, message: 'minID must not exceed maxID' });
    // An empty entry is skipped, as the reference's collectVlanTrunk skips it (bridge.go, v1.9.1), so that pods it
    // attached with such a config can be deleted after a takeover; an entry with other keys is a mistake to show.
    if (e.id === undefined && !hasMin && !hasMax && Object.keys(e).length > 0)
      ctx.addIssue({ code: 'custom', input: e, message: 'entry needs "id" or "minID"/"maxID"' });
  }),
);

const mac = z.pipe(
  z.string().check((ctx) => {
    const why = macProblem(ctx.value);
    if (why) ctx.issues.push({ code: 'custom', message: why, input: ctx.value });
  }),
  z.transform(normalizeMac),
);

const ifname = z.string().check((ctx) => {
  const why = ifnameProblem(ctx.value);
  if (why) ctx.issues.push({ code: 'custom', message: why, input: ctx.value });
});

const cidrList = z.array(z.string());
const flag = () => z._default(z.boolean(), false);

/** Every key with its type and range; no rule that relates two keys. */
export const BaseNetConfSchema = z.looseObject({
  cniVersion: z.optional(z.string()),
  name: z.string().check(z.regex(NAME_RE, `must match ${NAME_RE.source}`)),
  type: z.optional(z.string()),
  bridge: z._default(ifname, 'cni0'),
  mtu: z._default(
    z.int().check(z.refine((m) => m === 0 || (m >= 68 && m <= 65535), 'must be 0 (inherit) or 68-65535')),
    0,
  ),
  vlan: z._default(z.int().check(z.gte(0), z.lte(4094)), 0),
  vlanTrunk: z.optional(z.array(trunkEntry)),
  preserveDefaultVlan: flag(),
  promiscMode: flag(),
  hairpinMode: flag(),
  portIsolation: flag(),
  isGateway: flag(),
  isDefaultGateway: flag(),
  forceAddress: flag(),
  ipMasq: flag(),
  ipMasqBackend: z.optional(z.enum(['iptables', 'nftables'])),
  macspoofchk: flag(),
  enabledad: flag(),
  disableContainerInterface: flag(),
  // Ours (issue 16): keep the bridge's uplinks carrying its pods' VIDs tagged (src/plugin/uplink-vlans/).
  uplinkVlans: flag(),
  uplinkInterface: z.optional(ifname),
  ipam: z._default(z.looseObject({ type: z.optional(z.string()) }), {}),
  /** Seconds an IPAM plugin may take per call before SIGTERM (SIGKILL follows after a grace period). */
  // At least 1 s: a shorter one would make every DEL's IPAM call time out (a teardown that never succeeds). DEL,
  // GC and STATUS take the default for a value out of range (parseNetConf's teardown keys).
  ipamTimeout: z._default(z.number().check(z.gte(1), z.lte(3600)), DEFAULT_IPAM_TIMEOUT_S),
  dns: z.optional(
    z.looseObject({
      nameservers: z.optional(z.array(z.string())),
      domain: z.optional(z.string()),
      search: z.optional(z.array(z.string())),
      options: z.optional(z.array(z.string())),
    }),
  ),
  args: z.optional(
    z.looseObject({ cni: z.optional(z.looseObject({ mac: z.optional(mac), ips: z.optional(cidrList) })) }),
  ),
  runtimeConfig: z.optional(z.looseObject({ mac: z.optional(mac), ips: z.optional(cidrList) })),
  prevResult: z.optional(z.unknown()),
  // (ours) logFile and logLevel: checked with the rules that relate keys (NetConfSchema), so that a mistyped
  // log key refuses an ADD or CHECK but never a DEL, GC or STATUS (src/cni/log.ts ignores a bad value there).
  logFile: z.optional(z.unknown()),
  logLevel: z.optional(z.unknown()),
});

/**
 * The full schema: the base plus the rules that relate keys (the reference checks them in cmdAdd). They guard what ADD
 * would build; teardown (DEL, GC) and STATUS parse with the base alone, so a config that ADD refused on such a
 * rule can still be deleted: a DEL that always fails would wedge the runtime's sandbox teardown.
 */
export const NetConfSchema = BaseNetConfSchema.check(
  z.superRefine(
    (c, ctx) => {
      // Cross-field rules run even when other keys failed, so one reply lists every problem; the values they read
      // may therefore be of the wrong type and are checked before use.
      if (c.promiscMode === true && c.hairpinMode === true) {
        ctx.addIssue({
          code: 'custom',
          path: ['hairpinMode'],
          input: true,
          message: 'cannot be set together with promiscMode',
        });
      }
      // The VLAN gateway interface `<bridge>.<vlan>` is a name too: refuse before anything is created, in bytes.
      if (
        (c.isGateway === true || c.isDefaultGateway === true) &&
        typeof c.vlan === 'number' &&
        c.vlan > 0 &&
        typeof c.bridge === 'string'
      ) {
        const problem = vlanGatewayProblem(vlanGatewayName(c.bridge, c.vlan));
        if (problem) ctx.addIssue({ code: 'custom', path: ['isGateway'], input: true, message: problem });
      }
      if (c.uplinkInterface !== undefined && c.uplinkVlans !== true) {
        ctx.addIssue({
          code: 'custom',
          path: ['uplinkInterface'],
          input: c.uplinkInterface,
          message: 'names the uplink that uplinkVlans manages: set "uplinkVlans": true with it',
        });
      }
      if (c.logFile !== undefined && !isConfigLogPath(c.logFile)) {
        ctx.addIssue({
          code: 'custom',
          path: ['logFile'],
          input: c.logFile,
          message: `must be a file name or path inside the log directory (${DEFAULT_LOG_DIR}), without ".."`,
        });
      }
      if (c.logLevel !== undefined && !(LOG_LEVELS as readonly unknown[]).includes(c.logLevel)) {
        ctx.addIssue({
          code: 'custom',
          path: ['logLevel'],
          input: c.logLevel,
          message: `must be one of ${LOG_LEVELS.join(', ')}`,
        });
      }
      const ipamType = (c.ipam as { type?: unknown } | undefined)?.type;
      if (c.disableContainerInterface === true && typeof ipamType === 'string' && ipamType !== '') {
        ctx.addIssue({
          code: 'custom',
          path: ['disableContainerInterface'],
          input: true,
          message: `cannot be set together with IPAM (ipam.type ${show(ipamType)})`,
        });
      }
    },
    { when: () => true },
  ),
);

export type RawNetConf = z.infer<typeof NetConfSchema>;

/**
 * Which VLANs a pod's port carries by its config, derived once at parse time (plugin/vlans.ts applies the rule):
 * `vlan` (0: none), the trunk's entries merged into sorted, non-adjacent spans, and preserveDefaultVlan.
 */
export interface VlanIntent {
  vlan: number;
  trunkRanges: VidSpan[];
  preserveDefaultVlan: boolean;
}

/** The parsed config with the values derived from it, worked out once here; handlers never re-derive them. */
export interface NetConf extends RawNetConf {
  /** isDefaultGateway implies isGateway, as in the reference. */
  isGateway: boolean;
  /** True when an IPAM plugin is to be delegated to; `ipam: {}` means L2 only. */
  hasIpam: boolean;
  /** The port's VLAN intent (vlan, merged vlanTrunk, preserveDefaultVlan). */
  vlans: VlanIntent;
  /** Whether ADD puts the gateway address on the bridge itself (isGateway with IPAM, no `vlan`: plugin/l3.ts). */
  gatewayOnBridge: boolean;
}

/**
 * The VLAN gateway interface's name, `<bridge>.<vlan>`, as the reference's (bridge.go `ensureVlanInterface`, v1.9.1):
 * of the bridge's own name, which is the config's `bridge` unless that names the bridge by an altname (l3.ts).
 */
export const vlanGatewayName = (bridge: string, vlan: number): string => `${bridge}.${vlan}`;

/** Why `name` cannot be the VLAN gateway's name (longer than IFNAMSIZ - 1, 15 bytes), or undefined. */
export function vlanGatewayProblem(name: string): string | undefined {
  if (utf8Bytes(name) <= MAX_IFNAME) return undefined;
  return `gateway interface name ${show(name)} (bridge + "." + vlan) would be longer than ${MAX_IFNAME} bytes`;
}

/** A trunk's entries (`id`, or `minID`..`maxID`) as merged spans; empty entries are skipped (see trunkEntry). */
export function trunkSpans(entries: RawNetConf['vlanTrunk']): VidSpan[] {
  const spans: VidSpan[] = [];
  for (const e of entries ?? []) {
    if (e.id !== undefined) spans.push([e.id, e.id]);
    if (e.minID !== undefined && e.maxID !== undefined) spans.push([e.minID, e.maxID]);
  }
  return mergeSpans(spans);
}

/** The values derived from a parsed config (see NetConf). Pure. */
function derive(c: RawNetConf): NetConf {
  const isGateway = c.isGateway || c.isDefaultGateway;
  const hasIpam = typeof c.ipam.type === 'string' && c.ipam.type !== '';
  const vlans = { vlan: c.vlan, trunkRanges: trunkSpans(c.vlanTrunk), preserveDefaultVlan: c.preserveDefaultVlan };
  const gateway = isGateway && hasIpam;
  return {
    ...c,
    isGateway,
    hasIpam,
    vlans,
    gatewayOnBridge: gateway && !c.vlan,
  };
}

/** Format zod issues as `path: message (got value)` lines, the details of a code 7 error (listed: at most 20). */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  // z.int()'s own bound (±2^53 - 1) says nothing a field's range does not: dropped where the field has another issue.
  const pathKey = (i: z.core.$ZodIssue) => JSON.stringify(i.path);
  const safeBound = (i: z.core.$ZodIssue) =>
    (i.code === 'too_big' || i.code === 'too_small') &&
    Math.abs(Number(i.code === 'too_big' ? i.maximum : i.minimum)) === Number.MAX_SAFE_INTEGER;
  const shown = issues.filter(
    (i) => !safeBound(i) || !issues.some((o) => o !== i && !safeBound(o) && pathKey(o) === pathKey(i)),
  );
  return listed(
    shown.map((i) => {
      const path =
        i.path.length === 0
          ? '(config)'
          : i.path.map((p, n) => (typeof p === 'number' ? `[${p}]` : `${n ? '.' : ''}${String(p)}`)).join('');
      // zod words a missing key as "expected string, received undefined", and 1e400 (read as Infinity) as
      // "expected number, received Infinity": say what they are.
      const message =
        i.code === 'invalid_type' && i.input === undefined
          ? `required, a ${i.expected}`
          : i.code === 'invalid_type' && (i.input === Infinity || i.input === -Infinity)
            ? 'not a usable number'
            : i.message;
      return `${path}: ${message} ${got(i.input)}`;
    }),
  );
}

/** Parse an already-decoded config object. Throws CniError code 7 listing every problem. */
/** The keys of the objects inside a config that the reference decodes into fields (bridge.go, types.NetConf). */
const NESTED_KEYS: Record<string, { keys: string[]; nested?: Record<string, string[]>; list?: boolean }> = {
  runtimeConfig: { keys: ['mac', 'ips'] },
  args: { keys: ['cni'], nested: { cni: ['mac', 'ips'] } },
  dns: { keys: ['nameservers', 'domain', 'search', 'options'] },
  ipam: { keys: ['type'] },
  vlanTrunk: { keys: ['id', 'minID', 'maxID'], list: true },
};

/**
 * A key as Go's encoding/json folds it to compare it with a field's name (`foldName`: ASCII letters to upper case,
 * other characters to the upper case of their lower case, so "ſ" (U+017F) matches "s" and the Kelvin sign "k").
 */
function goFold(key: string): string {
  let out = '';
  for (const ch of key) {
    if (ch.charCodeAt(0) < 0x80) out += ch.toUpperCase();
    else {
      const lower = ch.toLowerCase();
      const upper = [...lower].length === 1 ? lower.toUpperCase() : ch;
      out += [...upper].length === 1 ? upper : ch;
    }
  }
  return out;
}

/**
 * An object's keys as Go's encoding/json matches them to fields, which is how the reference reads its config: a key
 * spelt otherwise than a field but equal to it after folding (goFold) is that field ("RuntimeConfig" is
 * runtimeConfig), of several keys for one field the last wins, and a field given `null` is as if absent (Unmarshal:
 * "preferring an exact match but also accepting a case-insensitive match"; null "has no effect" on a value). Other
 * keys stay as they are, but `__proto__`, which the reference ignores and which would set the prototype of the
 * object built here. Returns a new object; `value` itself when it is none.
 */
function goKeys(value: unknown, fields: readonly string[]): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const byFold = new Map(fields.map((f) => [goFold(f), f]));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === '__proto__') continue;
    const field = fields.includes(k) ? k : byFold.get(goFold(k));
    if (field === undefined) out[k] = v;
    else if (v !== null) {
      delete out[field];
      out[field] = v;
    }
  }
  return out;
}

/** Top-level keys read outside the schema: the spec's own (libcni decodes them with encoding/json too). */
const SPEC_KEYS = ['cni.dev/valid-attachments', 'cni.dev/attachments'] as const;

/**
 * A config with the reference's fields found as Go finds them (goKeys), at the top and in the objects it decodes.
 * Applied where the configuration is decoded (command.ts), so that every reader sees the same keys; idempotent.
 */
export function asGoDecodes(raw: object): Record<string, unknown> {
  const top = goKeys(raw, [...Object.keys(BaseNetConfSchema.shape), ...SPEC_KEYS]) as Record<string, unknown>;
  for (const [key, spec] of Object.entries(NESTED_KEYS)) {
    const v = top[key];
    if (v === undefined) continue;
    const one = (x: unknown) => {
      const o = goKeys(x, spec.keys);
      if (!spec.nested || typeof o !== 'object' || o === null) return o;
      const r = o as Record<string, unknown>;
      for (const [k, keys] of Object.entries(spec.nested)) if (r[k] !== undefined) r[k] = goKeys(r[k], keys);
      return r;
    };
    top[key] = spec.list && Array.isArray(v) ? v.map(one) : one(v);
  }
  return top;
}

/**
 * The keys DEL, GC and STATUS use: a config whose other keys are invalid still tears down, since a DEL that can never
 * succeed wedges the runtime's teardown, and the reference (which may have attached the pod before a takeover)
 * accepts configs this schema refuses (a misspelt trunk entry, values this plugin bounds more tightly).
 */
const TEARDOWN_KEYS = new Set([
  'cniVersion',
  'name',
  'type',
  'bridge',
  'ipam',
  'ipMasq',
  'ipMasqBackend',
  'macspoofchk',
  'uplinkVlans',
]);

export function parseNetConf(raw: unknown, opts: { crossField?: boolean } = {}): NetConf {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new CniError(
      Code.InvalidConfig,
      'invalid network configuration',
      `(config): must be a JSON object ${got(raw)}`,
    );
  }
  const input = asGoDecodes(raw);
  const schema = opts.crossField === false ? BaseNetConfSchema : NetConfSchema;
  let parsed = schema.safeParse(input, { reportInput: true });
  if (!parsed.success && opts.crossField === false) {
    // Teardown: keys it does not use and that fail their rule are left out (their defaults apply), then parsed again.
    const bad = parsed.error.issues.map((i) => String(i.path[0] ?? '')).filter((k) => k && !TEARDOWN_KEYS.has(k));
    if (bad.length > 0) {
      for (const k of bad) delete input[k];
      parsed = schema.safeParse(input, { reportInput: true });
    }
  }
  if (!parsed.success) {
    throw new CniError(Code.InvalidConfig, 'invalid network configuration', formatIssues(parsed.error.issues));
  }
  return derive(parsed.data);
}
