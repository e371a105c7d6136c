/** Comparing logits as distributions: max |Δ|, KL divergence of the softmax, top-1 agreement. */

function logSoftmax(x: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of x) max = Math.max(max, v);
  let sum = 0;
  for (const v of x) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(x, (v) => v - lse);
}

/** Max |Δ|, KL(ref || ours) of the softmax, and whether the argmax agrees, for one position. */
export function compareRow(ref: Float32Array, got: Float32Array) {
  let maxAbs = 0;
  let refArg = 0;
  let gotArg = 0;
  for (let i = 0; i < ref.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(ref[i]! - got[i]!));
    if (ref[i]! > ref[refArg]!) refArg = i;
    if (got[i]! > got[gotArg]!) gotArg = i;
  }
  const lp = logSoftmax(ref);
  const lq = logSoftmax(got);
  let kl = 0;
  for (let i = 0; i < ref.length; i++) kl += Math.exp(lp[i]!) * (lp[i]! - lq[i]!);
  return { maxAbs, kl, top1: refArg === gotArg };
}
