/**
 * The rope table: cos and sin of every (position, pair) angle, computed once
 * from the hyperparameters and used by every backend (the reference and WebGPU
 * backends read this table; the WASM backend still builds its own for plain
 * rope and refuses the rest, see kernels/wasm/backend.ts).
 *
 * As ggml's CPU rope (ggml_rope_cache_init / rope_yarn) computes it, in float32:
 *   theta_0 = pos, theta_{i+1} = theta_i * base^(-2/dim)
 *   angle(pos, i) = freqScale * theta_i / factors[i]
 * freqScale is 1 / the linear scaling factor; factors are Llama 3's rope_freqs.weight.
 * YaRN (ext_factor != 0) is not implemented: files asking for it are refused when
 * their hyperparameters are read (model/arch/common.ts).
 */
import { ModelError } from './errors.js';
import type { RopeFreqs } from './program.js';

/** cos/sin interleaved per (position, pair): out[(pos * dim/2 + i) * 2] = cos, [... + 1] = sin. */
export function ropeTable(freqs: RopeFreqs, positions: number): Float32Array {
  const f = Math.fround;
  const { dim, base, freqScale, factors } = freqs;
  const half = dim / 2;
  if (factors && factors.length !== half) throw new ModelError(`rope frequency factors: ${factors.length} values for a rope dimension of ${dim} (expected ${half})`);
  const out = new Float32Array(positions * half * 2);
  const thetaScale = f(Math.pow(base, -2 / dim));
  const scale = f(freqScale);
  for (let pos = 0; pos < positions; pos++) {
    let theta = f(pos);
    for (let i = 0; i < half; i++) {
      const extrap = factors ? f(theta / factors[i]!) : theta;
      const angle = scale === 1 ? extrap : f(scale * extrap);
      out[(pos * half + i) * 2] = Math.cos(angle);
      out[(pos * half + i) * 2 + 1] = Math.sin(angle);
      theta = f(theta * thetaScale);
    }
  }
  return out;
}

/** A key of one rope table, for backends that share tables between ops. */
export function ropeKey(freqs: RopeFreqs): string {
  return `${freqs.dim}/${freqs.base}/${freqs.freqScale}/${freqs.factors ? Array.from(freqs.factors).join(',') : ''}`;
}
