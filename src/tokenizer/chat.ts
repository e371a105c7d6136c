/**
 * Chat templates: `tokenizer.chat_template` (Jinja) rendered with @huggingface/jinja the way
 * Hugging Face's `apply_chat_template` renders it, and the rendered prompt turned into tokens
 * so that the template's markup may hold special tokens while message contents never do.
 */
import { Template } from '@huggingface/jinja';
import { TokenizerError } from './errors.js';
import type { EncodeSegment, Tokenizer } from './tokenizer.js';

export interface ChatMessage {
  role: string;
  content: string;
  /** Other fields (tool_calls, name, ...) are passed to the template as they are. */
  [key: string]: unknown;
}

export interface ChatTemplateOptions {
  /** End with the header of an assistant turn (Hugging Face's add_generation_prompt). Default false. */
  addGenerationPrompt?: boolean;
  /** `bos_token` / `eos_token` in the template; default "" (a tokenizer fills them in for `renderChat`). */
  bosToken?: string;
  eosToken?: string;
  /** More variables for the template (tools, date_string, ...). `tools` is none unless given. */
  variables?: Record<string, unknown>;
}

const templateCache = new Map<string, Template>();

function compile(source: string): Template {
  let t = templateCache.get(source);
  if (t === undefined) {
    // Jinja (keep_trailing_newline=False) drops one newline at the end of the template.
    const src = source.endsWith('\n') ? source.slice(0, -1) : source;
    try {
      t = new Template(src);
    } catch (e) {
      throw new TokenizerError('BAD_TEMPLATE', `chat template does not parse: ${(e as Error).message}`);
    }
    if (templateCache.size > 16) templateCache.clear();
    templateCache.set(source, t);
  }
  return t;
}

function checkMessages(messages: readonly ChatMessage[]): void {
  if (!Array.isArray(messages)) throw new TypeError('messages must be an array of { role, content }');
  for (const [i, m] of messages.entries()) {
    if (m === null || typeof m !== 'object' || typeof m.role !== 'string' || typeof m.content !== 'string') {
      throw new TypeError(`messages[${i}] must be an object with string role and content`);
    }
  }
}

/**
 * Renders a chat template as Hugging Face's `apply_chat_template(messages, tokenize=False)`:
 * variables `messages`, `add_generation_prompt`, `bos_token`, `eos_token`, `tools` (none) and
 * `raise_exception`. A template's `raise_exception(...)` becomes a TokenizerError (TEMPLATE_ERROR).
 */
export function renderChatTemplate(template: string, messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): string {
  checkMessages(messages);
  const t = compile(template);
  try {
    return t.render({
      tools: null,
      ...opts.variables,
      messages: messages.map((m) => ({ ...m })),
      add_generation_prompt: opts.addGenerationPrompt ?? false,
      bos_token: opts.bosToken ?? '',
      eos_token: opts.eosToken ?? '',
    });
  } catch (e) {
    throw new TokenizerError('TEMPLATE_ERROR', `chat template failed: ${(e as Error).message}`);
  }
}

/** The `bos_token`/`eos_token` a tokenizer gives a template: the texts of its BOS and EOS tokens. */
export function templateTokens(tok: Tokenizer): { bosToken: string; eosToken: string } {
  return {
    bosToken: tok.bosId >= 0 ? tok.tokenText(tok.bosId) : '',
    eosToken: tok.eosId >= 0 ? tok.tokenText(tok.eosId) : '',
  };
}

// Placeholders for protected text: one code point each from Supplementary Private Use Area-A.
const PUA_BASE = 0xf0000;
const PUA_END = 0xffffd;

/**
 * Renders the template and cuts the result into segments for `Tokenizer.encodeSegments`: the
 * template's own text may contain special tokens (`parseSpecial`), while every special-token text
 * inside a message content stays plain text. Contents go through the template as placeholders
 * (one private-use code point per protected piece), so filters such as `trim` see the same text.
 */
export function chatSegments(tok: Tokenizer, template: string, messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): EncodeSegment[] {
  checkMessages(messages);
  const specials = tok.controlTokenTexts(); // longest first
  const firsts = new Set(specials.map((t) => t.charCodeAt(0)));
  const saved: string[] = [];
  const protect = (content: string): string => {
    let out = '';
    for (let i = 0; i < content.length; ) {
      const cp = content.codePointAt(i)!;
      const w = cp > 0xffff ? 2 : 1;
      if (cp >= PUA_BASE && cp <= PUA_END) {
        // Already a placeholder code point: protect it too, so it is never misread.
        out += String.fromCodePoint(PUA_BASE + saved.length);
        saved.push(content.slice(i, i + w));
        i += w;
        continue;
      }
      if (firsts.has(content.charCodeAt(i))) {
        const hit = specials.find((s) => content.startsWith(s, i));
        if (hit !== undefined) {
          out += String.fromCodePoint(PUA_BASE + saved.length);
          saved.push(hit);
          i += hit.length;
          continue;
        }
      }
      out += content.slice(i, i + w);
      i += w;
    }
    return out;
  };
  const guarded = messages.map((m) => ({ ...m, content: protect(m.content) }));
  if (saved.length > PUA_END - PUA_BASE) throw new TokenizerError('TEMPLATE_ERROR', 'too many special-token texts in the messages');
  const rendered = renderChatTemplate(template, guarded, { ...templateTokens(tok), ...opts });

  const segments: EncodeSegment[] = [];
  let last = 0;
  for (let i = 0; i < rendered.length; ) {
    const cp = rendered.codePointAt(i)!;
    const w = cp > 0xffff ? 2 : 1;
    const k = cp - PUA_BASE;
    if (k >= 0 && k < saved.length) {
      if (i > last) segments.push({ text: rendered.slice(last, i), parseSpecial: true });
      segments.push({ text: saved[k]!, parseSpecial: false });
      last = i + w;
    }
    i += w;
  }
  if (rendered.length > last) segments.push({ text: rendered.slice(last), parseSpecial: true });
  return segments;
}

/** The rendered prompt as text (placeholders resolved): what the model reads. */
export function segmentsText(segments: readonly EncodeSegment[]): string {
  return segments.map((s) => s.text).join('');
}

/**
 * Tokens of a chat prompt: the template's special tokens parsed, contents plain, and BOS added
 * when the vocabulary asks for it unless the template already starts with it.
 */
export function encodeChat(tok: Tokenizer, template: string, messages: readonly ChatMessage[], opts: ChatTemplateOptions & { addSpecial?: boolean } = {}): number[] {
  const ids = tok.encodeSegments(chatSegments(tok, template, messages, opts), { addSpecial: false });
  if ((opts.addSpecial ?? true) && tok.addBos && tok.bosId >= 0 && ids[0] !== tok.bosId) ids.unshift(tok.bosId);
  return ids;
}
