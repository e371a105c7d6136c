/**
 * Worker thread for `tsinfer quantize --threads N`: quantizes row ranges of
 * a slab held in shared memory (input floats and output bytes are
 * SharedArrayBuffers owned by the main thread; see quantize-model.ts).
 */
import { parentPort } from 'node:worker_threads';
import { quantizeChunk } from './quantize.js';

export interface QuantizeJob {
  readonly id: number;
  readonly typeId: number;
  readonly src: SharedArrayBuffer;
  readonly dst: SharedArrayBuffer;
  /** First row and row count of this job within the slab. */
  readonly row: number;
  readonly rows: number;
  readonly nPerRow: number;
  readonly rowBytes: number;
}

parentPort?.on('message', (job: QuantizeJob) => {
  try {
    const src = new Float32Array(job.src, job.row * job.nPerRow * 4, job.rows * job.nPerRow);
    const dst = new Uint8Array(job.dst, job.row * job.rowBytes, job.rows * job.rowBytes);
    quantizeChunk(job.typeId, src, dst, job.rows, job.nPerRow);
    parentPort!.postMessage({ id: job.id });
  } catch (e) {
    parentPort!.postMessage({ id: job.id, error: (e as Error).message });
  }
});
