// Just enough of Kubernetes' protobuf encoding to read what Multus writes to the API server. Multus's client asks
// for "application/vnd.kubernetes.protobuf" bodies (multus-cni v4.3.0 pkg/k8sclient/kubeconfig.go, GetK8sClient:
// ContentType), so its pod status update and its events arrive as protobuf, not JSON. The envelope is the 4 bytes
// "k8s\0" and a runtime.Unknown message whose `raw` holds the object (apimachinery pkg/runtime/serializer/protobuf);
// the field numbers below are those of the generated.proto files vendored in multus-cni v4.3.0
// (k8s.io/apimachinery/pkg/runtime, k8s.io/apimachinery/pkg/apis/meta/v1, k8s.io/api/core/v1).

const MAGIC = [0x6b, 0x38, 0x73, 0x00];

type Field = { no: number; varint?: bigint; bytes?: Uint8Array };

/** The fields of one message, in order (wire types 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32). */
function fields(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let i = 0;
  const varint = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      if (i >= buf.length) throw new Error('protobuf: truncated varint');
      const b = buf[i++]!;
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return v;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const key = Number(varint());
    const no = key >>> 3;
    switch (key & 7) {
      case 0:
        out.push({ no, varint: varint() });
        break;
      case 1:
        i += 8;
        break;
      case 2: {
        const len = Number(varint());
        if (i + len > buf.length) throw new Error('protobuf: truncated field');
        out.push({ no, bytes: buf.subarray(i, i + len) });
        i += len;
        break;
      }
      case 5:
        i += 4;
        break;
      default:
        throw new Error(`protobuf: wire type ${key & 7} of field ${no}`);
    }
  }
  return out;
}

const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));
const one = (fs: Field[], no: number) => fs.filter((f) => f.no === no).pop(); // the last wins, as in protobuf
const str = (fs: Field[], no: number) => text(one(fs, no)?.bytes);
const sub = (fs: Field[], no: number) => fields(one(fs, no)?.bytes ?? new Uint8Array());

/** A map<string,string> field: repeated entries with key = 1 and value = 2. */
function map(fs: Field[], no: number): Record<string, string> | undefined {
  const entries = fs.filter((f) => f.no === no);
  if (entries.length === 0) return undefined;
  return Object.fromEntries(entries.map((e) => fields(e.bytes!)).map((kv) => [str(kv, 1) ?? '', str(kv, 2) ?? '']));
}

/** Whether a request body is in Kubernetes' protobuf envelope. */
export const isProtobuf = (body: Uint8Array): boolean => MAGIC.every((b, i) => body[i] === b);

/** The envelope's type and the object's own bytes (runtime.Unknown: typeMeta 1 {apiVersion 1, kind 2}, raw 2). */
export function unwrap(body: Uint8Array): { apiVersion?: string; kind?: string; raw: Uint8Array } {
  if (!isProtobuf(body)) throw new Error('not a Kubernetes protobuf body (no "k8s\\0" prefix)');
  const unknown = fields(body.subarray(MAGIC.length));
  const typeMeta = sub(unknown, 1);
  return { apiVersion: str(typeMeta, 1), kind: str(typeMeta, 2), raw: one(unknown, 2)?.bytes ?? new Uint8Array() };
}

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** meta/v1 ObjectMeta: name 1, namespace 3, uid 5, resourceVersion 6, labels 11, annotations 12. */
function objectMeta(fs: Field[]): ObjectMeta {
  const m: ObjectMeta = {
    name: str(fs, 1),
    namespace: str(fs, 3),
    uid: str(fs, 5),
    resourceVersion: str(fs, 6),
    labels: map(fs, 11),
    annotations: map(fs, 12),
  };
  // Go writes every string field, set or not: an empty one is one the object does not have.
  return Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined && v !== ''));
}

/** A core/v1 Pod's metadata (Pod: metadata 1, spec 2, status 3), as JSON would carry it. */
export function decodePodMeta(raw: Uint8Array): ObjectMeta {
  return objectMeta(sub(fields(raw), 1));
}

/** The parts of a core/v1 Event a test reads (involvedObject: kind 1, namespace 2, name 3, uid 4). */
export function decodeEvent(raw: Uint8Array): {
  metadata: ObjectMeta;
  involvedObject: { kind?: string; namespace?: string; name?: string; uid?: string };
  reason?: string;
  message?: string;
  type?: string;
  source: { component?: string };
} {
  const fs = fields(raw);
  const io = sub(fs, 2);
  return {
    metadata: objectMeta(sub(fs, 1)),
    involvedObject: { kind: str(io, 1), namespace: str(io, 2), name: str(io, 3), uid: str(io, 4) },
    reason: str(fs, 3),
    message: str(fs, 4),
    type: str(fs, 9),
    source: { component: str(sub(fs, 5), 1) },
  };
}
