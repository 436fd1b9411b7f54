// A small CRI client: the gRPC calls a kubelet makes to containerd's runtime.v1.RuntimeService for
// a pod's sandbox (RunPodSandbox, PodSandboxStatus, StopPodSandbox, RemovePodSandbox, and the
// listing and Status a cleanup and a config reload need).
//
// The service's schema comes from the containerd binary itself, not from a source package: Go
// protobuf code embeds each .proto file's FileDescriptorProto gzipped, and containerd 1.6 carries
// both k8s.io/cri-api files (runtime.v1alpha2 and runtime.v1). We find the gzip streams, keep the
// one whose package is runtime.v1, and load it as a one-file FileDescriptorSet. Its import of
// gogo.proto is never resolved: the gogo options are unknown extensions that loading skips.
// Extracted at test start (about 50 ms), kept in memory only.
import { credentials, loadPackageDefinition, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadFileDescriptorSetFromBuffer } from '@grpc/proto-loader';
import { readFileSync } from 'node:fs';
import { gunzipSync, constants as zlib } from 'node:zlib';

export const CONTAINERD_BINARY = '/usr/bin/containerd';

/** Length-delimited field `field` of a top-level protobuf message, as text ('' when absent). */
function stringField(message: Buffer, field: number): string {
  let at = 0;
  const varint = () => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = message[at++];
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80 || at >= message.length) return value;
    }
  };
  while (at < message.length) {
    const key = varint();
    const [number, wire] = [Math.floor(key / 8), key % 8];
    if (wire === 2) {
      const length = varint();
      if (number === field) return message.subarray(at, at + length).toString('utf8');
      at += length;
    } else if (wire === 0) varint();
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else return ''; // groups: not in a FileDescriptorProto's top level
  }
  return '';
}

/** The FileDescriptorProto of `pkg` embedded (gzipped) in a Go binary. */
export function embeddedDescriptor(binary: string, pkg: string): Buffer {
  const data = readFileSync(binary);
  const header = Buffer.from([0x1f, 0x8b, 0x08]);
  for (let at = data.indexOf(header); at >= 0; at = data.indexOf(header, at + 1)) {
    let file: Buffer;
    try {
      // The stream's end is unknown: inflate what follows and let a sync flush stop at its end.
      file = gunzipSync(data.subarray(at, at + (1 << 18)), { finishFlush: zlib.Z_SYNC_FLUSH });
    } catch {
      continue; // three bytes that only looked like a gzip header
    }
    // FileDescriptorProto: 1 name, 2 package.
    if (stringField(file, 2) === pkg) return file;
  }
  throw new Error(`${binary}: no embedded FileDescriptorProto of package ${pkg}; is it containerd 1.6 or later?`);
}

function descriptorSet(file: Buffer): Buffer {
  // FileDescriptorSet { repeated FileDescriptorProto file = 1; }: one tag, one length, the bytes.
  const length: number[] = [];
  for (let n = file.length; ; n = Math.floor(n / 128)) {
    if (n < 128) {
      length.push(n);
      break;
    }
    length.push((n % 128) | 0x80);
  }
  return Buffer.concat([Buffer.from([0x0a, ...length]), file]);
}

// Loaded from a descriptor, a map<string,string> field is what the wire has: repeated {key, value}.
type Entries = { key: string; value: string }[];
const entries = (map: Record<string, string>): Entries => Object.entries(map).map(([key, value]) => ({ key, value }));
const fromEntries = (list: Entries | undefined): Record<string, string> =>
  Object.fromEntries((list ?? []).map((e) => [e.key, e.value]));

type Unary = (
  request: object,
  options: { deadline: Date },
  done: (err: ServiceError | null, reply: unknown) => void,
) => void;
let runtimeService: (new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => Client) | undefined;

function serviceConstructor() {
  if (!runtimeService) {
    const definition = loadFileDescriptorSetFromBuffer(
      descriptorSet(embeddedDescriptor(CONTAINERD_BINARY, 'runtime.v1')),
      {
        keepCase: true, // the field names of the .proto (pod_sandbox_id), as the kubelet's Go code spells them
        enums: String,
        longs: String,
        defaults: true,
      },
    );
    const pkg = loadPackageDefinition(definition) as unknown as {
      runtime: { v1: { RuntimeService: NonNullable<typeof runtimeService> } };
    };
    runtimeService = pkg.runtime.v1.RuntimeService;
  }
  return runtimeService!;
}

export interface PodMetadata {
  name: string;
  namespace: string;
  uid: string;
  attempt?: number;
}

export interface SandboxStatus {
  id: string;
  state: 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
  ip: string; // status.network.ip: what the runtime took from the CNI result
  /** From the verbose info (containerd's JSON): the pause pid and the netns path it was given. */
  pid: number;
  netnsPath: string;
  cniResult: unknown;
}

export class CriClient {
  private readonly client: Client;

  constructor(
    socket: string,
    private readonly timeoutMs = 60000,
  ) {
    const Service = serviceConstructor();
    this.client = new Service(`unix://${socket}`, credentials.createInsecure());
  }

  private call<T>(method: string, request: object): Promise<T> {
    const fn = (this.client as unknown as Record<string, Unary>)[method].bind(this.client);
    return new Promise((resolve, reject) =>
      fn(request, { deadline: new Date(Date.now() + this.timeoutMs) }, (err, reply) =>
        err ? reject(new Error(`CRI ${method}: ${err.details || err.message}`)) : resolve(reply as T),
      ),
    );
  }

  /** RunPodSandbox with the fields a kubelet fills for a pod with the pod network. */
  async runPodSandbox(meta: PodMetadata, annotations: Record<string, string> = {}): Promise<string> {
    const reply = await this.call<{ pod_sandbox_id: string }>('RunPodSandbox', {
      config: {
        metadata: { attempt: 0, ...meta },
        hostname: meta.name,
        labels: entries({ 'io.kubernetes.pod.name': meta.name, 'io.kubernetes.pod.namespace': meta.namespace }),
        annotations: entries(annotations),
        linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
      },
    });
    return reply.pod_sandbox_id;
  }

  async podSandboxStatus(id: string): Promise<SandboxStatus> {
    const reply = await this.call<{
      status: { id: string; state: SandboxStatus['state']; network?: { ip: string } };
      info: Entries;
    }>('PodSandboxStatus', { pod_sandbox_id: id, verbose: true });
    const info = JSON.parse(fromEntries(reply.info).info ?? '{}') as {
      pid?: number;
      cniResult?: unknown;
      runtimeSpec?: { linux?: { namespaces?: { type: string; path?: string }[] } };
    };
    const netns = info.runtimeSpec?.linux?.namespaces?.find((n) => n.type === 'network');
    return {
      id: reply.status.id,
      state: reply.status.state,
      ip: reply.status.network?.ip ?? '',
      pid: info.pid ?? 0,
      netnsPath: netns?.path ?? '',
      cniResult: info.cniResult,
    };
  }

  async stopPodSandbox(id: string): Promise<void> {
    await this.call('StopPodSandbox', { pod_sandbox_id: id });
  }

  async removePodSandbox(id: string): Promise<void> {
    await this.call('RemovePodSandbox', { pod_sandbox_id: id });
  }

  async listPodSandboxes(): Promise<string[]> {
    const reply = await this.call<{ items: { id: string }[] }>('ListPodSandbox', {});
    return reply.items.map((i) => i.id);
  }

  /** The runtime's Status, verbose: info.cniconfig says which network config CRI has loaded. */
  async status(): Promise<{ networkReady: boolean; cniConfig: string }> {
    const reply = await this.call<{ status: { conditions: { type: string; status: boolean }[] }; info: Entries }>(
      'Status',
      {
        verbose: true,
      },
    );
    const ready = reply.status.conditions.find((c) => c.type === 'NetworkReady');
    return { networkReady: ready?.status === true, cniConfig: fromEntries(reply.info).cniconfig ?? '' };
  }

  /** Stop and remove every sandbox (the kubelet's way out: each sends CNI DEL). */
  async removeAll(): Promise<void> {
    for (const id of await this.listPodSandboxes()) {
      await this.stopPodSandbox(id);
      await this.removePodSandbox(id);
    }
  }

  close(): void {
    this.client.close();
  }
}
