/**
 * CNI results: one in-memory shape (spec 1.1.0), read from any spec version and written in the caller's.
 * Conversion rules follow libcni (containernetworking/cni pkg/types/100, 040 and 020): 1.0.0 and 1.1.0 share
 * types; 0.3.x/0.4.0 have no interface mtu/socketPath/pciID and carry ips[].version; 0.1.0/0.2.0 keep the first
 * address of each family as ip4/ip6 and file routes under the family of their dst. One deliberate difference:
 * libcni prints 1.x route attributes (mtu, advmss, ...) in 0.3.x/0.4.0 too; we print the spec's {dst, gw} only.
 */
import { z } from './zod.js';
import { cidrFamily, ipFamily, type Family } from '../ip.js';
import { CniError, Code, got, listed, type CodeNumber } from './errors.js';
import { MAX_JSON_DEPTH, valueTooDeep } from './depth.js';

import {
  compareVersions,
  isSupported,
  LATEST,
  requireSupported,
  SUPPORTED_VERSIONS,
  type CniVersion,
} from './versions.js';

/** A plain IP (or, with `prefix`, an address with prefix length), of family `fam` when given. */
const address = (prefix: boolean, fam?: Family) => {
  const familyOf = prefix ? cidrFamily : ipFamily;
  const what = `${fam ? `an IPv${fam}` : 'an IP'} address${prefix ? ' with prefix length' : ''}`;
  return z
    .string()
    .check(z.refine((s) => (fam ? familyOf(s) === fam : familyOf(s) !== undefined), { message: `not ${what}` }));
};
const ipOf = (fam?: Family) => address(false, fam);
const cidrOf = (fam?: Family) => address(true, fam);
const uint = z.number().check(z.int(), z.nonnegative());
const int = z.number().check(z.int());
const strings = z.array(z.string());

const dnsSchema = z.object({
  nameservers: z.optional(strings),
  domain: z.optional(z.string()),
  search: z.optional(strings),
  options: z.optional(strings),
});
const routeSchema = z.object({
  dst: cidrOf(),
  gw: z.optional(ipOf()),
  mtu: z.optional(uint),
  advmss: z.optional(uint),
  priority: z.optional(uint),
  table: z.optional(int),
  scope: z.optional(int),
});
/** A route's gateway must be of its destination's family (the kernel would refuse it: EINVAL). */
const gwOfDstFamily = <T extends z.ZodMiniType<{ dst: string; gw?: string }>>(route: T) =>
  route.check(
    z.refine(
      (r: { dst: string; gw?: string }) =>
        r.gw === undefined ||
        [ipFamily(r.gw), cidrFamily(r.dst)].includes(undefined) ||
        ipFamily(r.gw) === cidrFamily(r.dst),
      { message: 'is not of the family of dst', path: ['gw'] },
    ),
  );
const interfaceSchema = z.object({
  name: z.string().check(z.minLength(1)),
  mac: z.optional(z.string()),
  mtu: z.optional(uint),
  sandbox: z.optional(z.string()),
  socketPath: z.optional(z.string()),
  pciID: z.optional(z.string()),
});
const ipConfigSchema = z.object({ address: cidrOf(), gateway: z.optional(ipOf()), interface: z.optional(uint) });

/** The spec 1.1.0 result (also 1.0.0's): what we compute with. */
export const resultSchema = z.object({
  cniVersion: z.string(),
  interfaces: z.optional(z.array(interfaceSchema)),
  ips: z.optional(z.array(ipConfigSchema)),
  routes: z.optional(z.array(gwOfDstFamily(routeSchema))),
  dns: z.optional(dnsSchema),
});
export type Result = z.infer<typeof resultSchema>;
export type Interface = z.infer<typeof interfaceSchema>;

/** Spec 0.3.0/0.3.1/0.4.0. libcni ignores `version` on input; we insist it names the address's family. */
const result04Schema = z.extend(resultSchema, {
  interfaces: z.optional(z.array(z.pick(interfaceSchema, { name: true, mac: true, sandbox: true }))),
  ips: z.optional(
    z.array(
      z.extend(ipConfigSchema, { version: z.optional(z.enum(['4', '6'])) }).check(
        z.refine((ip) => ip.version === undefined || String(cidrFamily(ip.address)) === ip.version, {
          message: 'does not match the address family',
          path: ['version'],
        }),
      ),
    ),
  ),
});
const ipConfig02 = (fam: Family) =>
  z.object({
    ip: cidrOf(fam),
    gateway: z.optional(ipOf(fam)),
    routes: z.optional(z.array(gwOfDstFamily(z.pick(routeSchema, { dst: true, gw: true })))),
  });
/** Spec 0.1.0/0.2.0. */
const result02Schema = z.object({
  cniVersion: z.optional(z.string()),
  ip4: z.optional(ipConfig02(4)),
  ip6: z.optional(ipConfig02(6)),
  dns: z.optional(dnsSchema),
});
export type Result04x = z.infer<typeof result04Schema>;
export type Result02x = z.infer<typeof result02Schema>;
export type WireResult = Result | Result04x | Result02x;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Go's json.Unmarshal treats null as "absent"; so do we. */
function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (!isRecord(v)) return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([, x]) => x !== null)
      .map(([k, x]) => [k, dropNulls(x)]),
  );
}

/** Removes undefined, '' and empty arrays/objects, so that nothing prints as null or as an empty value. */
function prune<T extends object>(o: T): T {
  const empty = (x: unknown) =>
    x === undefined || x === '' || (Array.isArray(x) && x.length === 0) || (isRecord(x) && Object.keys(x).length === 0);
  return Object.fromEntries(Object.entries(o).filter(([, x]) => !empty(x))) as T;
}

export interface ParseResultOptions {
  /** Error code for a bad shape: 7 (InvalidConfig, the default) for prevResult, 104 (Ipam) for IPAM output. */
  code?: CodeNumber;
  /** Names the document in the message and starts every detail path; default "prevResult". */
  root?: string;
  /** Version assumed when the result has no cniVersion (libcni injects the config's); else guessed by shape. */
  fallbackVersion?: string;
}

/** Reads a result of any supported version and returns it in the 1.1.0 shape. Bad shapes throw `opts.code`. */
export function parseResult(json: unknown, opts: ParseResultOptions = {}): Result {
  const { code = Code.InvalidConfig, root = 'prevResult' } = opts;
  const fail = (details: string): never => {
    throw new CniError(code, `invalid ${root}`, details);
  };
  // dropNulls and the schemas walk the value recursively: bound its depth first (the callers' text checks aside).
  if (valueTooDeep(json)) return fail(`${root}: arrays and objects may nest at most ${MAX_JSON_DEPTH} levels deep`);
  const input = dropNulls(json);
  if (!isRecord(input)) return fail(`${root}: expected an object ${got(json)}`);
  const declared = input.cniVersion;
  if (declared !== undefined && typeof declared !== 'string') {
    return fail(`${root}.cniVersion: expected a string ${got(declared)}`);
  }
  const version = declared || opts.fallbackVersion || ('ip4' in input || 'ip6' in input ? '0.2.0' : LATEST);
  if (!isSupported(version)) {
    const supported = SUPPORTED_VERSIONS.join(', ');
    return fail(`${root}.cniVersion: not a supported version (${supported}) ${got(version)}`);
  }
  const check = <S extends z.ZodMiniType>(schema: S): z.infer<S> => {
    const parsed = schema.safeParse({ ...input, cniVersion: version });
    if (parsed.success) return parsed.data;
    const line = (i: z.core.$ZodIssue) => {
      const v = valueAt(input, i.path);
      return `${pathOf(root, i.path)}: ${i.code === 'invalid_type' && v === undefined ? `required, a ${i.expected}` : i.message} ${got(v)}`;
    };
    return fail(listed(parsed.error.issues.map(line)));
  };
  if (compareVersions(version, '0.3.0') < 0) {
    const r = check(result02Schema);
    const fams = [r.ip4, r.ip6].filter((c) => c !== undefined);
    const ips = fams.map((c) => ({ address: c.ip, gateway: c.gateway }));
    return shaped({ cniVersion: LATEST, ips, routes: fams.flatMap((c) => c.routes ?? []), dns: r.dns }, LATEST);
  }
  return shaped(check(compareVersions(version, '1.0.0') < 0 ? result04Schema : resultSchema), LATEST);
}

function pathOf(root: string, path: readonly PropertyKey[]): string {
  return root + path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`)).join('');
}

function valueAt(v: unknown, path: readonly PropertyKey[]): unknown {
  let cur = v;
  for (const k of path) {
    cur = isRecord(cur) || Array.isArray(cur) ? (cur as Record<PropertyKey, unknown>)[k] : undefined;
  }
  return cur;
}

/**
 * `r` as version `v` (0.3.0 or later) prints it: fields in libcni's order, empty ones left out. Zero mtu, advmss
 * and priority are left out too (Go `omitempty` ints in libcni); table and scope are pointers there and stay.
 */
function shaped(r: Result, v: CniVersion): Result | Result04x {
  const full = compareVersions(v, '1.0.0') >= 0;
  const nz = (n?: number) => (n === 0 ? undefined : n);
  return prune({
    cniVersion: v,
    interfaces: r.interfaces?.map(({ name, mac, mtu, sandbox, socketPath, pciID }) =>
      prune(full ? { name, mac, mtu: nz(mtu), sandbox, socketPath, pciID } : { name, mac, sandbox }),
    ),
    ips: r.ips?.map(({ address, gateway, interface: i }) => {
      const version = full ? undefined : cidrFamily(address) === 4 ? '4' : '6';
      return prune({ version, interface: i, address, gateway });
    }),
    routes: r.routes?.map(({ dst, gw, mtu, advmss, priority, table, scope }) =>
      prune(full ? { dst, gw, mtu: nz(mtu), advmss: nz(advmss), priority: nz(priority), table, scope } : { dst, gw }),
    ),
    dns: r.dns && prune({ ...r.dns }),
  });
}

/** The result as printed for `toVersion`. An L2-only result has no 0.1.0/0.2.0 form: code 107. */
export function convertResult(r: Result, toVersion: string): WireResult {
  const v = requireSupported(toVersion);
  if (compareVersions(v, '0.3.0') >= 0) return shaped(r, v);
  // libcni (040 convertTo02x): the first address of each family, and the routes whose dst is of that family.
  const pick = (fam: Family) => {
    const ip = r.ips?.find((x) => cidrFamily(x.address) === fam);
    if (!ip) return undefined;
    const routes = r.routes?.filter((rt) => cidrFamily(rt.dst) === fam).map(({ dst, gw }) => prune({ dst, gw }));
    return prune({ ip: ip.address, gateway: ip.gateway, routes });
  };
  const out = prune({ cniVersion: v, ip4: pick(4), ip6: pick(6), dns: r.dns && prune({ ...r.dns }) });
  if (!out.ip4 && !out.ip6) throw new CniError(Code.ResultConversion, 'cannot convert: no valid IP addresses');
  return out;
}
