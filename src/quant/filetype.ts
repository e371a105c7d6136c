/**
 * llama.cpp's file types (LLAMA_FTYPE_*, the value of general.file_type) and
 * its per-tensor type choice for them (llama-quant.cpp without an importance
 * matrix, without --pure and without type overrides): which tensors stay as
 * they are, which get more bits in the _M/_S mixes, and the fallbacks when a
 * row length is not a multiple of the chosen type's block size.
 *
 * Only the file types `tsinfer quantize` writes are implemented; the
 * IQ-specific branches of llama.cpp do not apply to them.
 */
import { GGMLType, ggmlType, ggmlTypeName } from '../gguf/types.js';

/** LLAMA_FTYPE_* values (llama.h). */
export const LlamaFtype = {
  ALL_F32: 0,
  MOSTLY_F16: 1,
  MOSTLY_Q4_0: 2,
  MOSTLY_Q4_1: 3,
  MOSTLY_Q8_0: 7,
  MOSTLY_Q5_0: 8,
  MOSTLY_Q5_1: 9,
  MOSTLY_Q2_K: 10,
  MOSTLY_Q3_K_S: 11,
  MOSTLY_Q3_K_M: 12,
  MOSTLY_Q3_K_L: 13,
  MOSTLY_Q4_K_S: 14,
  MOSTLY_Q4_K_M: 15,
  MOSTLY_Q5_K_S: 16,
  MOSTLY_Q5_K_M: 17,
  MOSTLY_Q6_K: 18,
  MOSTLY_BF16: 32,
} as const;

export interface FileType {
  /** The name on the command line: Q4_K_M. */
  readonly name: string;
  /** general.file_type. */
  readonly ftype: number;
  /** llama_ftype_get_default_type. */
  readonly defaultType: number;
}

/** The file types `tsinfer quantize` writes, in llama-quantize's listing order. */
export const FILE_TYPES: readonly FileType[] = [
  { name: 'Q4_0', ftype: LlamaFtype.MOSTLY_Q4_0, defaultType: GGMLType.Q4_0 },
  { name: 'Q4_1', ftype: LlamaFtype.MOSTLY_Q4_1, defaultType: GGMLType.Q4_1 },
  { name: 'Q5_0', ftype: LlamaFtype.MOSTLY_Q5_0, defaultType: GGMLType.Q5_0 },
  { name: 'Q5_1', ftype: LlamaFtype.MOSTLY_Q5_1, defaultType: GGMLType.Q5_1 },
  { name: 'Q2_K', ftype: LlamaFtype.MOSTLY_Q2_K, defaultType: GGMLType.Q2_K },
  { name: 'Q3_K_M', ftype: LlamaFtype.MOSTLY_Q3_K_M, defaultType: GGMLType.Q3_K },
  { name: 'Q4_K_S', ftype: LlamaFtype.MOSTLY_Q4_K_S, defaultType: GGMLType.Q4_K },
  { name: 'Q4_K_M', ftype: LlamaFtype.MOSTLY_Q4_K_M, defaultType: GGMLType.Q4_K },
  { name: 'Q5_K_S', ftype: LlamaFtype.MOSTLY_Q5_K_S, defaultType: GGMLType.Q5_K },
  { name: 'Q5_K_M', ftype: LlamaFtype.MOSTLY_Q5_K_M, defaultType: GGMLType.Q5_K },
  { name: 'Q6_K', ftype: LlamaFtype.MOSTLY_Q6_K, defaultType: GGMLType.Q6_K },
  { name: 'Q8_0', ftype: LlamaFtype.MOSTLY_Q8_0, defaultType: GGMLType.Q8_0 },
  { name: 'F16', ftype: LlamaFtype.MOSTLY_F16, defaultType: GGMLType.F16 },
  { name: 'BF16', ftype: LlamaFtype.MOSTLY_BF16, defaultType: GGMLType.BF16 },
  { name: 'F32', ftype: LlamaFtype.ALL_F32, defaultType: GGMLType.F32 },
];

export function fileTypeByName(name: string): FileType | undefined {
  const up = name.toUpperCase();
  return FILE_TYPES.find((f) => f.name === up);
}

/** ggml_is_quantized: a block type (not F32/F16/BF16 or an integer type). */
export function isQuantizedType(typeId: number): boolean {
  const info = ggmlType(typeId);
  return !!info && info.blockSize > 1;
}

/** The layer of a "blk.N." tensor name, or -1 (sscanf semantics: leading digits, optional sign). */
function layerOf(name: string): number {
  const m = /^blk\.([+-]?\d+)\./.exec(name);
  return m ? Number.parseInt(m[1]!, 10) : -1;
}

/**
 * llama.cpp's tensor order (llama_model_loader's weight_name_comparer): by
 * layer number (tensors outside blocks first), then by name (bytewise).
 */
export function llamaTensorOrder<T extends { name: string }>(tensors: readonly T[]): T[] {
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...tensors].sort((a, b) => layerOf(a.name) - layerOf(b.name) || cmp(a.name, b.name));
}

export interface ModelShape {
  /** general.architecture. */
  readonly arch: string;
  readonly nLayer: number;
  readonly nHead: number;
  readonly nHeadKv: number;
  readonly nExpert: number;
}

export interface TensorDesc {
  readonly name: string;
  readonly typeId: number;
  readonly shape: readonly number[];
}

type Category = 'token_embd' | 'output' | 'attn_qkv' | 'attn_kv_b' | 'attn_v' | 'attn_k' | 'attn_q' | 'attn_output' | 'ffn_up' | 'ffn_gate' | 'ffn_down' | 'other';

function categoryOf(name: string): Category {
  if (name === 'output.weight') return 'output';
  if (name === 'token_embd.weight' || name === 'per_layer_token_embd.weight') return 'token_embd';
  for (const c of ['attn_qkv', 'attn_kv_b', 'attn_v', 'attn_k', 'attn_q', 'attn_output'] as const) {
    if (name.includes(`${c}.weight`)) return c;
  }
  for (const c of ['ffn_up', 'ffn_gate', 'ffn_down'] as const) if (name.includes(c)) return c;
  return 'other';
}

const NOT_QUANTIZED = [
  '_norm.weight',
  'ffn_gate_inp.weight',
  'altup',
  'laurel',
  'per_layer_model_proj',
  'ssm_conv1d',
  'shortconv.conv.weight',
  'attn_rel_b.weight',
  'time_mix_first.weight',
  'time_mix_w1.weight',
  'time_mix_w2.weight',
  'time_mix_decay_w1.weight',
  'time_mix_decay_w2.weight',
  'time_mix_lerp_fused.weight',
];

/** ggml_n_dims: trailing dimensions of 1 do not count. */
function nDims(shape: readonly number[]): number {
  for (let i = shape.length - 1; i >= 1; i--) if (shape[i]! > 1) return i + 1;
  return 1;
}

/** tensor_allows_quantization: 2D+ tensors whose name ends in "weight", except norms and a few small kinds. */
export function tensorAllowsQuantization(t: TensorDesc): boolean {
  if (nDims(t.shape) < 2) return false;
  if (!t.name.endsWith('weight')) return false;
  if (NOT_QUANTIZED.some((s) => t.name.includes(s))) return false;
  if (t.name === 'position_embd.weight' || t.name === 'token_types.weight') return false;
  return true;
}

export interface TensorPlan {
  readonly name: string;
  readonly from: number;
  readonly to: number;
  /** The type the mix asked for when the shape forced a fallback to `to`. */
  readonly fallbackFrom?: number;
}

/**
 * The target type of every tensor for a file type, in the order given (which
 * must be llama.cpp's order, see llamaTensorOrder: the _M mixes count attn_v
 * tensors as they come).
 */
export function planTensorTypes(tensors: readonly TensorDesc[], fileType: FileType, model: ModelShape): TensorPlan[] {
  const ftype = fileType.ftype;
  const F = LlamaFtype;
  const T = GGMLType;
  const nGqa = model.nHeadKv > 0 ? Math.trunc(model.nHead / model.nHeadKv) : 1;
  const is70B = model.arch === 'llama' && model.nLayer === 80 && model.nHead !== model.nHeadKv;
  const falcon = model.arch === 'falcon';
  const hasTiedEmbeddings = !tensors.some((t) => t.name === 'output.weight');
  const nAttnV = tensors.filter((t) => ['attn_v', 'attn_qkv', 'attn_kv_b'].includes(categoryOf(t.name))).length;
  const nLayer = model.nLayer;
  let iAttnV = 0;
  let iFfnDown = 0;
  const useMoreBits = (i: number, n: number) => i < Math.trunc(n / 8) || i >= Math.trunc((7 * n) / 8) || (i - Math.trunc(n / 8)) % 3 === 2;
  const layerIndex = (counter: number, name: string): number => {
    if (model.nExpert > 1) {
      const l = layerOf(name);
      if (l < 0 || l >= nLayer) throw new RangeError(`cannot determine the layer of tensor ${name}`);
      return l;
    }
    return counter;
  };

  const choose = (t: TensorDesc, cat: Category): number => {
    let type = fileType.defaultType;
    if (cat === 'output' || (hasTiedEmbeddings && cat === 'token_embd')) {
      const blk = ggmlType(type)!.blockSize;
      if (falcon || t.shape[0]! % blk !== 0) type = T.Q8_0;
      else if (type !== T.Q8_0) type = T.Q6_K;
    } else if (cat === 'token_embd') {
      // only IQ/TQ mixes change token_embd
    } else if (cat === 'attn_v' || cat === 'attn_qkv' || cat === 'attn_kv_b') {
      if (ftype === F.MOSTLY_Q2_K) type = nGqa >= 4 ? T.Q4_K : T.Q3_K;
      else if (ftype === F.MOSTLY_Q3_K_M) type = iAttnV < 2 ? T.Q5_K : T.Q4_K;
      else if (ftype === F.MOSTLY_Q3_K_L) type = T.Q5_K;
      else if ((ftype === F.MOSTLY_Q4_K_M || ftype === F.MOSTLY_Q5_K_M) && useMoreBits(iAttnV, nAttnV)) type = T.Q6_K;
      else if (ftype === F.MOSTLY_Q4_K_S && iAttnV < 4) type = T.Q5_K;
      if (is70B && (type === T.Q3_K || type === T.Q4_K)) type = T.Q5_K;
      if (model.nExpert === 8) type = T.Q8_0;
      iAttnV++;
    } else if (cat === 'attn_k') {
      if (model.nExpert === 8) type = T.Q8_0;
    } else if (cat === 'ffn_down') {
      const i = layerIndex(iFfnDown, t.name);
      if (ftype === F.MOSTLY_Q2_K) type = T.Q3_K;
      else if (ftype === F.MOSTLY_Q3_K_M) {
        type = i < Math.trunc(nLayer / 16) ? T.Q5_K : !falcon || useMoreBits(i, nLayer) ? T.Q4_K : T.Q3_K;
      } else if (ftype === F.MOSTLY_Q3_K_L) type = falcon ? T.Q4_K : T.Q5_K;
      else if (ftype === F.MOSTLY_Q4_K_M) {
        if (falcon) type = i < Math.trunc(nLayer / 16) ? T.Q6_K : useMoreBits(i, nLayer) ? T.Q5_K : T.Q4_K;
        else if (useMoreBits(i, nLayer)) type = T.Q6_K;
      } else if (ftype === F.MOSTLY_Q5_K_M && useMoreBits(i, nLayer)) type = T.Q6_K;
      else if (ftype === F.MOSTLY_Q4_K_S && !falcon && i < Math.trunc(nLayer / 8)) type = T.Q5_K;
      iFfnDown++;
    } else if (cat === 'attn_output') {
      if (!falcon) {
        if (model.nExpert === 8) {
          if (ftype === F.MOSTLY_Q2_K || ftype === F.MOSTLY_Q3_K_S || ftype === F.MOSTLY_Q3_K_M || ftype === F.MOSTLY_Q4_K_S || ftype === F.MOSTLY_Q4_K_M) type = T.Q5_K;
        } else if (ftype === F.MOSTLY_Q2_K) type = T.Q3_K;
        else if (ftype === F.MOSTLY_Q3_K_M) type = T.Q4_K;
        else if (ftype === F.MOSTLY_Q3_K_L) type = T.Q5_K;
      } else if (ftype === F.MOSTLY_Q3_K_L) type = T.Q4_K;
    } else if (cat === 'ffn_gate' || cat === 'ffn_up') {
      // only IQ3_XS changes these
    }
    return type;
  };

  const FALLBACK: Record<number, number> = {
    [T.Q2_K]: T.Q4_0,
    [T.Q3_K]: T.Q4_0,
    [T.Q4_K]: T.Q5_0,
    [T.Q5_K]: T.Q5_1,
    [T.Q6_K]: T.Q8_0,
  };

  return tensors.map((t): TensorPlan => {
    if (!tensorAllowsQuantization(t)) return { name: t.name, from: t.typeId, to: t.typeId };
    let type = fileType.defaultType;
    if (!isQuantizedType(type)) return { name: t.name, from: t.typeId, to: type };
    type = choose(t, categoryOf(t.name));
    const blk = ggmlType(type)!.blockSize;
    if (t.shape[0]! % blk === 0) return { name: t.name, from: t.typeId, to: type };
    // A 32-element type has no smaller block to fall back to: it becomes F16 below, as in llama.cpp.
    let fb = FALLBACK[type] ?? (blk <= 32 ? type : undefined);
    if (fb === undefined) throw new RangeError(`no fallback type for ${ggmlTypeName(type)} (tensor ${t.name})`);
    if (t.shape[0]! % ggmlType(fb)!.blockSize !== 0) fb = T.F16;
    return { name: t.name, from: t.typeId, to: fb, fallbackFrom: type };
  });
}
