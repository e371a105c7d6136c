/**
 * The rope table: cos and sin of every (position, pair) angle, computed once
 * from the hyperparameters and used by every backend (the reference backend
 * reads it, the WASM and WebGPU backends copy it into their memory).
 *
 * As ggml's CPU rope (ggml_rope_cache_init / rope_yarn) computes it, in float32:
 *   theta_0 = pos, theta_{i+1} = theta_i * base^(-2/dim)
 *   extrap = theta_i / factors[i],  interp = freqScale * extrap
 *   angle(pos, i) = interp                                   (no YaRN)
 *                 = interp * (1 - mix_i) + extrap * mix_i    (YaRN: mix_i = ramp_i * extFactor)
 *   table = (cos(angle), sin(angle)) * mscale,  mscale = attnFactor (* (1 + 0.1 ln(1/freqScale)) with YaRN)
 * freqScale is 1 / the scaling factor; factors are Llama 3's rope_freqs.weight; ramp_i is 1 below
 * the YaRN correction dims, 0 above them, linear between (ggml_rope_yarn_corr_dims).
 */
import { ModelError } from './errors.js';
import type { RopeFreqs } from './program.js';

const f = Math.fround;

/**
 * ggml_rope_yarn_corr_dims: the pair indices where YaRN's ramp starts and ends, from the
 * dimensions whose wavelength completes betaFast and betaSlow turns in origContext positions.
 */
export function yarnCorrDims(dim: number, origContext: number, base: number, betaFast: number, betaSlow: number): [number, number] {
  // corr_dim(n_rot) = n_dims * ln(n_ctx_orig / (n_rot * 2 pi)) / (2 ln base), in float32
  const corrDim = (nRot: number) => f(f(dim * f(Math.log(f(f(origContext) / f(f(nRot * 2) * f(Math.PI)))))) / f(2 * f(Math.log(f(base)))));
  return [Math.max(0, Math.floor(corrDim(betaFast))), Math.min(dim - 1, Math.ceil(corrDim(betaSlow)))];
}

/** ggml's rope_yarn_ramp at pair i: 1 below `low`, 0 above `high`, linear between. */
function yarnRamp(low: number, high: number, i: number): number {
  const y = f(f(i - low) / Math.max(f(0.001), f(high - low)));
  return f(1 - Math.min(1, Math.max(0, y)));
}

/** cos/sin interleaved per (position, pair): out[(pos * dim/2 + i) * 2] = cos, [... + 1] = sin. */
export function ropeTable(freqs: RopeFreqs, positions: number): Float32Array {
  const { dim, base, factors, yarn } = freqs;
  const half = dim / 2;
  if (factors && factors.length !== half) throw new ModelError(`rope frequency factors: ${factors.length} values for a rope dimension of ${dim} (expected ${half})`);
  const out = new Float32Array(positions * half * 2);
  const thetaScale = f(Math.pow(f(base), f(-2 / dim)));
  const scale = f(freqs.freqScale);
  const ext = f(yarn?.extFactor ?? 0);
  let mscale = f(freqs.attnFactor ?? 1);
  let mix: Float32Array | undefined;
  if (yarn && ext !== 0) {
    const [low, high] = yarnCorrDims(dim, yarn.origContext, base, yarn.betaFast, yarn.betaSlow);
    mix = Float32Array.from({ length: half }, (_, i) => f(yarnRamp(low, high, i) * ext));
    mscale = f(mscale * f(1 + f(f(0.1) * f(Math.log(f(1 / scale))))));
  }
  for (let pos = 0; pos < positions; pos++) {
    let theta = f(pos);
    for (let i = 0; i < half; i++) {
      const extrap = factors ? f(theta / factors[i]!) : theta;
      const interp = f(scale * extrap);
      const angle = mix ? f(f(interp * f(1 - mix[i]!)) + f(extrap * mix[i]!)) : interp;
      const o = (pos * half + i) * 2;
      out[o] = mscale === 1 ? Math.cos(angle) : f(Math.cos(angle)) * mscale;
      out[o + 1] = mscale === 1 ? Math.sin(angle) : f(Math.sin(angle)) * mscale;
      theta = f(theta * thetaScale);
    }
  }
  return out;
}

/**
 * llama.cpp's attn_factor for ggml_rope_ext, as llama_context derives it for architectures that
 * read no YaRN keys of their own: with YaRN (extFactor ≠ 0) it cancels the 1 + 0.1 ln(factor)
 * ggml multiplies in (get_mscale(factor, 1) / (1 + 0.1 ln factor)), then rope.scaling.attn_factor.
 */
export function llamaCppAttnFactor(freqScale: number, extFactor: number, ropeAttnFactor: number): number {
  let a = 1;
  if (extFactor !== 0) {
    const factor = f(1 / f(freqScale));
    const lnFactor = f(Math.log(factor));
    a = factor <= 1 ? 1 : f(f(f(0.1) * lnFactor) + 1);
    a = f(a * f(1 / f(1 + f(f(0.1) * lnFactor))));
  }
  return f(a * f(ropeAttnFactor));
}

/** A key of one rope table, for backends that share tables between ops. */
export function ropeKey(freqs: RopeFreqs): string {
  const y = freqs.yarn;
  return [
    freqs.dim,
    freqs.base,
    freqs.freqScale,
    freqs.factors ? Array.from(freqs.factors).join(',') : '',
    freqs.attnFactor ?? 1,
    y ? `${y.extFactor}/${y.betaFast}/${y.betaSlow}/${y.origContext}` : '',
  ].join('/');
}
