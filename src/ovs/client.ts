// A transaction-level OVSDB client: sends typed operations to the Open_vSwitch database and
// turns any per-operation or commit error into an exception, so callers see all-or-nothing.
import { OperationError, UnavailableError } from '../errors';
import type { Operation, OperationResult } from './ops';
import { RpcConnection, RpcError } from './rpc';

export const DATABASE = 'Open_vSwitch';

export class TransactionError extends OperationError {
  constructor(
    readonly failedOp: Operation | undefined,
    readonly result: OperationResult,
  ) {
    const what = failedOp ? `${failedOp.op}${'table' in failedOp ? ` on ${failedOp.table}` : ''}` : 'commit';
    super(`OVSDB transaction failed at ${what}: ${result.error}${result.details ? ` (${result.details})` : ''}`);
  }
}

export class OvsdbClient {
  private constructor(private readonly rpc: RpcConnection) {}

  static async connect(remote: string, timeoutMs: number): Promise<OvsdbClient> {
    return new OvsdbClient(await RpcConnection.connect(remote, timeoutMs));
  }

  async transact(ops: Operation[], timeoutMs?: number): Promise<OperationResult[]> {
    let raw: unknown;
    try {
      raw = await this.rpc.call('transact', [DATABASE, ...ops], timeoutMs);
    } catch (err) {
      if (err instanceof RpcError) throw new OperationError(err.message);
      throw err;
    }
    if (!Array.isArray(raw)) throw new UnavailableError(`OVSDB answered transact with ${JSON.stringify(raw)}`);
    const results = raw as (OperationResult | null)[];
    // One result per operation, plus one more when the commit itself failed.
    for (let i = 0; i < results.length; i++) {
      const r = results[i];
      if (r?.error) throw new TransactionError(ops[i], r);
    }
    return results.map((r) => r ?? {});
  }

  close(): void {
    this.rpc.close();
  }
}
