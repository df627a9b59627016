// A stand-in for kube-apiserver, for what Multus asks of it: no kube-apiserver can be built or fetched on the
// machines this runs on. It serves what a test puts in it (pods, NetworkAttachmentDefinitions) at the paths and in
// the shape the API server uses (JSON with apiVersion/kind, metadata with uid and resourceVersion, `Status` bodies
// for errors: 404 NotFound, 409 Conflict), takes what Multus writes back (the pod's status update carrying the
// `k8s.v1.cni.cncf.io/network-status` annotation, events) and records every request.
//
// What Multus v4.3.0's thin plugin sends (pkg/k8sclient/k8sclient.go, pkg/multus/multus.go and the vendored
// network-attachment-definition-client pkg/utils/net-attach-def.go, at that tag), all through client-go without
// informers (the thin plugin starts none):
//   GET  /api/v1/namespaces/<ns>/pods/<name>                                          GetPod, ADD and DEL
//   GET  /apis/k8s.cni.cncf.io/v1/namespaces/<ns>/network-attachment-definitions/<n>  one per selected network
//   PUT  /api/v1/namespaces/<ns>/pods/<name>/status   SetNetworkStatus: GET then UpdateStatus, retried on 409
//   POST /api/v1/namespaces/<ns>/events               "AddedInterface" and "NoNetworkFound", sent asynchronously
// It asks for protobuf answers but accepts JSON ("application/vnd.kubernetes.protobuf,application/json"), so the
// answers here are JSON; its request bodies are protobuf (./protobuf.ts reads them) or JSON.
//
// What it does not do: authentication and authorization (Multus's RBAC), admission, validation of the objects
// beyond name and namespace, defaulting, list and watch, field and label selectors, managedFields, the rules the
// real pods/status strategy applies (it takes the annotations and labels of the update and keeps the rest), CRD
// schemas, discovery, and protobuf answers. Nothing here checks that Multus would be allowed to do what it does.
import { randomUUID } from 'node:crypto';
import { Netns, inNetns } from '../../src/kernel/netns.js';
import { decodeEvent, decodePodMeta, isProtobuf, unwrap, type ObjectMeta } from './protobuf.js';

/** One request as it arrived, and the status it was answered with. */
export interface ApiRequest {
  method: string;
  path: string;
  contentType: string;
  status: number;
  /** The request body as an object (decoded from protobuf where it was), when there was one. */
  body?: any;
}

/** An object of the API, as JSON: apiVersion, kind, metadata and the rest. */
export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta & Record<string, any>;
  [k: string]: any;
};
type Obj = KubeObject;

const CORE = /^\/api\/v1\/namespaces\/([^/]+)\/(pods|events)(?:\/([^/]+))?(?:\/(status))?$/;
const NADS = /^\/apis\/k8s\.cni\.cncf\.io\/v1\/namespaces\/([^/]+)\/network-attachment-definitions\/([^/]+)$/;

/** The body of an error answer, as the API server writes it (a meta/v1 Status). */
function status(code: number, reason: string, message: string, details: object): Response {
  const body = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details, code };
  return Response.json(body, { status: code });
}

const notFound = (resource: string, name: string, group?: string) =>
  status(404, 'NotFound', `${group ? `${resource}.${group}` : resource} "${name}" not found`, {
    name,
    ...(group ? { group } : {}),
    kind: resource,
  });

export class ApiServerStandIn {
  /** Every request, oldest first. */
  readonly requests: ApiRequest[] = [];
  private readonly pods = new Map<string, Obj>();
  private readonly nads = new Map<string, Obj>();
  private readonly events: Obj[] = [];
  private version = 1000;
  private server: ReturnType<typeof Bun.serve> | undefined;

  /**
   * Starts serving on 127.0.0.1 inside the network namespace at `netnsPath` (a node's): the listening socket is
   * made there, so only processes in that namespace (Multus, called by the node's containerd) reach it.
   */
  listenIn(netnsPath: string): void {
    const ns = Netns.open(netnsPath);
    try {
      // Bun.serve makes and binds its socket before it returns, on this thread, inside the namespace.
      this.server = inNetns(ns, () => Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: (req) => this.handle(req) }));
    } finally {
      ns.close();
    }
  }

  /** The server's address, as a kubeconfig names it. */
  get url(): string {
    if (!this.server) throw new Error('the API server stand-in is not listening');
    return `http://127.0.0.1:${this.server.port}`;
  }

  /** Pods (`<ns>/<name>`) whose next status update finds another writer's change first (see writeBeforeNextStatus). */
  private readonly writeBefore = new Set<string>();

  /**
   * Makes another writer (kubelet updating the pod's status, say) change the pod between Multus's read and its next
   * status update: that update then names a resourceVersion that is no longer current and is answered 409 Conflict,
   * as the API server answers it, and Multus reads the pod again (RetryOnConflict in the vendored
   * net-attach-def-client's SetNetworkStatus).
   */
  writeBeforeNextStatus(namespace: string, name: string): void {
    this.writeBefore.add(`${namespace}/${name}`);
  }

  /** Stops serving (open connections are closed). */
  stop(): void {
    void this.server?.stop(true);
    this.server = undefined;
  }

  private nextVersion = () => String(++this.version);

  /** Stores an object as the API server would return it: with a uid, a resourceVersion and a creation time. */
  private stored(o: Obj): Obj {
    return {
      ...o,
      metadata: {
        uid: randomUUID(),
        creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        ...o.metadata,
        resourceVersion: this.nextVersion(),
      },
    };
  }

  /** Creates a pod (as kubectl apply would); returns it as stored, with its uid. */
  createPod(pod: { metadata: ObjectMeta; [k: string]: any }): Obj {
    const p = this.stored({ apiVersion: 'v1', kind: 'Pod', ...pod });
    this.pods.set(`${p.metadata.namespace}/${p.metadata.name}`, p);
    return structuredClone(p);
  }

  /** Deletes a pod (as a forced delete does: gone from the API at once). */
  deletePod(namespace: string, name: string): void {
    this.pods.delete(`${namespace}/${name}`);
  }

  /** The pod as it is stored now (what a GET would return), or undefined. */
  pod(namespace: string, name: string): Obj | undefined {
    const p = this.pods.get(`${namespace}/${name}`);
    return p && structuredClone(p);
  }

  /** Creates a NetworkAttachmentDefinition, e.g. one of deploy/nad-*.yaml parsed. */
  createNad(nad: Obj): Obj {
    if (nad.apiVersion !== 'k8s.cni.cncf.io/v1' || nad.kind !== 'NetworkAttachmentDefinition')
      throw new Error(`not a NetworkAttachmentDefinition: ${nad.apiVersion} ${nad.kind}`);
    const n = this.stored({ ...nad, metadata: { generation: 1, ...nad.metadata } });
    this.nads.set(`${n.metadata.namespace}/${n.metadata.name}`, n);
    return structuredClone(n);
  }

  /** The events written so far, decoded. */
  recordedEvents(): Obj[] {
    return structuredClone(this.events);
  }

  private async handle(req: Request): Promise<Response> {
    const path = new URL(req.url).pathname;
    const contentType = req.headers.get('content-type') ?? '';
    const bytes = new Uint8Array(await req.arrayBuffer());
    const record: ApiRequest = { method: req.method, path, contentType, status: 0 };
    this.requests.push(record);
    let res: Response;
    try {
      res = this.route(req.method, path, bytes, record);
    } catch (e) {
      // A body this stand-in cannot read: the API server answers 400 BadRequest with the decoding error.
      res = status(400, 'BadRequest', `the body of the request could not be decoded: ${(e as Error).message}`, {});
    }
    record.status = res.status;
    return res;
  }

  /** Decodes a request body as the API server would: protobuf in its envelope, else JSON. */
  private decode(bytes: Uint8Array, decodeRaw: (raw: Uint8Array) => any): any {
    if (isProtobuf(bytes)) {
      const { apiVersion, kind, raw } = unwrap(bytes);
      return { apiVersion, kind, ...decodeRaw(raw) };
    }
    return JSON.parse(new TextDecoder().decode(bytes));
  }

  private route(method: string, path: string, bytes: Uint8Array, record: ApiRequest): Response {
    const nad = NADS.exec(path);
    if (nad) {
      const [, namespace, name] = nad;
      if (method !== 'GET') return status(405, 'MethodNotAllowed', `${method} is not supported here`, {});
      const n = this.nads.get(`${namespace}/${name}`);
      return n ? Response.json(n) : notFound('network-attachment-definitions', name!, 'k8s.cni.cncf.io');
    }
    const core = CORE.exec(path);
    if (!core) {
      return status(404, 'NotFound', 'the server could not find the requested resource', {});
    }
    const [, namespace, resource, name, sub] = core;
    if (resource === 'events') {
      if (method !== 'POST' && method !== 'PATCH')
        return status(405, 'MethodNotAllowed', `${method} is not supported here`, {});
      const body =
        method === 'POST' ? this.decode(bytes, (raw) => decodeEvent(raw)) : JSON.parse(new TextDecoder().decode(bytes));
      record.body = body;
      if (method === 'PATCH') return Response.json(this.events.find((e) => e.metadata.name === name) ?? body);
      const e = this.stored({ apiVersion: 'v1', kind: 'Event', ...body, metadata: { ...body.metadata, namespace } });
      this.events.push(e);
      return Response.json(e, { status: 201 });
    }
    const key = `${namespace}/${name}`;
    const pod = this.pods.get(key);
    if (method === 'GET' && !sub) return pod ? Response.json(pod) : notFound('pods', name!);
    if (method === 'PUT' && sub === 'status') {
      const body = this.decode(bytes, (raw) => ({ metadata: decodePodMeta(raw) }));
      record.body = body;
      if (!pod) return notFound('pods', name!);
      if (this.writeBefore.delete(key)) pod.metadata = { ...pod.metadata, resourceVersion: this.nextVersion() };
      const m: ObjectMeta = body.metadata ?? {};
      if (m.name !== name || (m.namespace ?? namespace) !== namespace)
        return status(400, 'BadRequest', 'the name or namespace of the object does not match the request', {});
      // Optimistic concurrency: an update names the resourceVersion it read, and loses to any write since.
      // (Pods allow an update without one, which then always wins.)
      const stale = m.resourceVersion !== undefined && m.resourceVersion !== pod.metadata.resourceVersion;
      if ((m.uid && m.uid !== pod.metadata.uid) || stale)
        return status(
          409,
          'Conflict',
          `Operation cannot be fulfilled on pods "${name}": the object has been modified; please apply your changes to the latest version and try again`,
          { name, kind: 'pods' },
        );
      const { annotations: _a, labels: _l, ...kept } = pod.metadata;
      pod.metadata = {
        ...kept,
        ...(m.annotations ? { annotations: m.annotations } : {}),
        ...(m.labels ? { labels: m.labels } : {}),
        resourceVersion: this.nextVersion(),
      };
      return Response.json(pod);
    }
    return status(405, 'MethodNotAllowed', `${method} ${path} is not supported by this stand-in`, {});
  }
}
