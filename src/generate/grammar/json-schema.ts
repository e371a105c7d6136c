/**
 * JSON Schema -> GBNF, with the semantics of llama.cpp's converter
 * (common/json-schema-to-grammar.cpp): the same primitive rules, whitespace
 * rule and output shapes, so the same schema constrains output the same way.
 *
 * - properties in the order the schema gives; required ones first, then the
 *   optional ones (each may be left out, order kept); additionalProperties only
 *   when given as true or a schema (absent means none, as llama.cpp);
 * - enum / const as JSON literals; type lists; anyOf / oneOf as alternatives (as llama.cpp,
 *   oneOf's "exactly one" is not enforced: branches that overlap can give a document two match);
 *   allOf of object schemas merged; $ref to "#/..." (e.g. $defs, definitions);
 * - arrays: items, prefixItems, minItems / maxItems;
 * - strings: minLength / maxLength, format (date, time, date-time, uuid; dates are
 *   checked per month and for leap years, stricter than llama.cpp), pattern
 *   (an anchored regex subset: literals, ., classes, \d \w \s, groups,
 *   alternation, * + ? {m,n}); the pattern's text is kept JSON-safe;
 * - integers: minimum / maximum / exclusive bounds as digit-range rules.
 *
 * Keywords that would change what is valid but are not implemented (not,
 * if/then/else, patternProperties, multipleOf, uniqueItems, number bounds, ...)
 * are a JsonSchemaError naming them, never silently dropped.
 */
import { JsonSchemaError } from './errors.js';

type Schema = Record<string, unknown> | boolean;

const SPACE = '| " " | "\\n" [ \\t]{0,20}';

const PRIMITIVES: Record<string, [body: string, deps: string[]]> = {
  boolean: ['("true" | "false") space', []],
  'decimal-part': ['[0-9]{1,16}', []],
  'integral-part': ['[0] | [1-9] [0-9]{0,15}', []],
  number: ['("-"? integral-part) ("." decimal-part)? ([eE] [-+]? integral-part)? space', ['integral-part', 'decimal-part']],
  integer: ['("-"? integral-part) space', ['integral-part']],
  value: ['object | array | string | number | boolean | null', ['object', 'array', 'string', 'number', 'boolean', 'null']],
  object: ['"{" space ( string ":" space value ("," space string ":" space value)* )? "}" space', ['string', 'value']],
  array: ['"[" space ( value ("," space value)* )? "]" space', ['value']],
  uuid: ['"\\"" [0-9a-fA-F]{8} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{12} "\\"" space', []],
  char: ['[^"\\\\\\x7F\\x00-\\x1F] | [\\\\] (["\\\\bfnrt] | "u" [0-9a-fA-F]{4})', []],
  string: ['"\\"" char* "\\"" space', ['char']],
  null: ['"null" space', []],
  // Stricter than llama.cpp's (any month with days 01-31): day counts per month and 29 February only in leap years,
  // so that every date the grammar allows is a real one.
  date: [
    '[0-9]{4} "-" ( date-month31 "-" date-day31 | date-month30 "-" date-day30 | "02-" date-day28 ) | date-leap-year "-02-29"',
    ['date-month31', 'date-month30', 'date-day28', 'date-day30', 'date-day31', 'date-leap-year'],
  ],
  'date-month31': ['"0" [13578] | "1" [02]', []],
  'date-month30': ['"0" [469] | "11"', []],
  'date-day28': ['"0" [1-9] | "1" [0-9] | "2" [0-8]', []],
  'date-day30': ['date-day28 | "29" | "30"', ['date-day28']],
  'date-day31': ['date-day30 | "31"', ['date-day30']],
  'date-leap-year': ['[0-9]{2} ("0" [48] | [2468] [048] | [13579] [26]) | ("0" [048] | [2468] [048] | [13579] [26]) "00"', []],
  time: ['([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{3} )? ( "Z" | ( "+" | "-" ) ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] )', []],
  'date-time': ['date "T" time', ['date', 'time']],
  'date-string': ['"\\"" date "\\"" space', ['date']],
  'time-string': ['"\\"" time "\\"" space', ['time']],
  'date-time-string': ['"\\"" date-time "\\"" space', ['date-time']],
};

const FORMATS: Record<string, string> = { date: 'date-string', time: 'time-string', 'date-time': 'date-time-string', uuid: 'uuid' };

/** Keywords that only annotate (no effect on what is valid). */
const ANNOTATIONS = new Set([
  '$schema',
  '$id',
  '$comment',
  'title',
  'description',
  'default',
  'examples',
  'deprecated',
  'readOnly',
  'writeOnly',
  '$defs',
  'definitions',
  'contentMediaType',
  'contentEncoding',
]);
/** Keywords this converter implements. */
const HANDLED = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'enum',
  'const',
  'items',
  'prefixItems',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'format',
  'pattern',
  '$ref',
  'anyOf',
  'oneOf',
  'allOf',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
]);

/** A GBNF string literal for `s`. */
function literal(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (c === 10) out += '\\n';
    else if (c === 13) out += '\\r';
    else if (c === 9) out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + '"';
}

const ruleName = (s: string): string => s.replace(/[^a-zA-Z0-9-]+/g, '-') || 'r';

class Converter {
  private readonly rules = new Map<string, string>();
  private readonly refRules = new Map<string, string>();
  private readonly refsInProgress = new Set<string>();

  constructor(private readonly rootSchema: Schema) {
    this.rules.set('space', SPACE);
  }

  grammar(): string {
    return [...this.rules].map(([name, body]) => `${name} ::= ${body}`).join('\n') + '\n';
  }

  /** Adds a rule; a name already used for a different body gets a numeric suffix. */
  addRule(name: string, body: string): string {
    const base = ruleName(name);
    let key = base;
    for (let i = 1; this.rules.has(key) && this.rules.get(key) !== body; i++) key = `${base}${i}`;
    this.rules.set(key, body);
    return key;
  }

  primitive(name: string): string {
    const def = PRIMITIVES[name]!;
    if (!this.rules.has(name)) {
      this.rules.set(name, def[0]);
      for (const d of def[1]) this.primitive(d);
    }
    return name;
  }

  resolveRef(ref: string, path: string): Schema {
    if (!ref.startsWith('#')) throw new JsonSchemaError(`$ref "${ref}" is not supported: only references inside the schema ("#/...") are`, path);
    let node: unknown = this.rootSchema;
    for (const raw of ref.slice(1).split('/').slice(1)) {
      const part = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
      if (node === null || typeof node !== 'object' || !(part in (node as object))) throw new JsonSchemaError(`$ref "${ref}" does not resolve`, path);
      node = (node as Record<string, unknown>)[part];
    }
    if (typeof node !== 'boolean' && (node === null || typeof node !== 'object' || Array.isArray(node))) throw new JsonSchemaError(`$ref "${ref}" is not a schema`, path);
    return node as Schema;
  }

  /** The rule (name) matching `schema`; `name` seeds the rule names. */
  visit(schema: Schema, name: string, path: string): string {
    if (schema === true) return this.primitive('value');
    if (schema === false) throw new JsonSchemaError('the schema `false` matches nothing', path);
    if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) throw new JsonSchemaError('a schema must be an object or a boolean', path);
    for (const k of Object.keys(schema)) {
      if (!HANDLED.has(k) && !ANNOTATIONS.has(k)) throw new JsonSchemaError(`keyword "${k}" is not supported`, path);
    }
    const s = schema;
    if (s.$ref !== undefined) {
      const ref = String(s.$ref);
      if (Object.keys(s).some((k) => HANDLED.has(k) && k !== '$ref')) throw new JsonSchemaError('$ref beside other constraints is not supported', path);
      const done = this.refRules.get(ref);
      if (done !== undefined) return done;
      const target = this.resolveRef(ref, path);
      const rn = ruleName(ref.split('/').pop() || 'ref') + '-ref';
      // Reserve the name first so recursive schemas refer to it.
      const reserved = this.addRule(rn, `"\\u0000placeholder ${this.refRules.size}"`);
      this.refRules.set(ref, reserved);
      this.refsInProgress.add(ref);
      const body = this.visit(target, rn, ref);
      this.refsInProgress.delete(ref);
      this.rules.set(reserved, body);
      return reserved;
    }
    if (Array.isArray(s.anyOf) || Array.isArray(s.oneOf)) {
      const key = Array.isArray(s.anyOf) ? 'anyOf' : 'oneOf';
      if (Object.keys(s).some((k) => HANDLED.has(k) && k !== key)) throw new JsonSchemaError(`${key} beside other constraints is not supported`, path);
      const alts = (s[key] as Schema[]).map((sub, i) => this.visit(sub, `${name}-${i}`, `${path}/${key}/${i}`));
      return this.addRule(name, alts.join(' | '));
    }
    if (s.anyOf !== undefined || s.oneOf !== undefined) throw new JsonSchemaError('anyOf / oneOf must be arrays', path);
    if (s.allOf !== undefined) return this.visitAllOf(s, name, path);
    if (s.const !== undefined) return this.addRule(name, `${literal(JSON.stringify(s.const))} space`);
    if (s.enum !== undefined) {
      if (!Array.isArray(s.enum) || s.enum.length === 0) throw new JsonSchemaError('enum must be a non-empty array', path);
      return this.addRule(name, `(${s.enum.map((v) => literal(JSON.stringify(v))).join(' | ')}) space`);
    }
    const type = s.type;
    if (Array.isArray(type)) {
      const alts = type.map((t) => this.visit({ ...s, type: t }, `${name}-${String(t)}`, path));
      return this.addRule(name, alts.join(' | '));
    }
    if (type === undefined) {
      if (s.properties !== undefined || s.additionalProperties !== undefined) return this.visitObject(s, name, path);
      if (s.items !== undefined || s.prefixItems !== undefined) return this.visitArray(s, name, path);
      const constraining = Object.keys(s).filter((k) => HANDLED.has(k));
      if (constraining.length > 0) throw new JsonSchemaError(`${constraining.join(', ')} without a "type" is not supported`, path);
      return this.primitive('value');
    }
    switch (type) {
      case 'object':
        return s.properties === undefined && s.additionalProperties === undefined && s.required === undefined ? this.primitive('object') : this.visitObject(s, name, path);
      case 'array':
        return this.visitArray(s, name, path);
      case 'string':
        return this.visitString(s, name, path);
      case 'integer':
        return this.visitInteger(s, name, path);
      case 'number':
        for (const k of ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum']) if (s[k] !== undefined) throw new JsonSchemaError(`${k} on a number is not supported (only on integers)`, path);
        return this.primitive('number');
      case 'boolean':
        return this.primitive('boolean');
      case 'null':
        return this.primitive('null');
      default:
        throw new JsonSchemaError(`unknown type ${JSON.stringify(type)}`, path);
    }
  }

  private visitAllOf(s: Record<string, unknown>, name: string, path: string): string {
    if (!Array.isArray(s.allOf)) throw new JsonSchemaError('allOf must be an array', path);
    const properties: Record<string, Schema> = {};
    const required = new Set<string>();
    let additional: unknown;
    const parts = [...(s.allOf as Schema[])];
    const rest = { ...s };
    delete rest.allOf;
    if (Object.keys(rest).some((k) => HANDLED.has(k))) parts.push(rest);
    parts.forEach((part0, i) => {
      let part = part0;
      while (part && typeof part === 'object' && typeof part.$ref === 'string') part = this.resolveRef(part.$ref, `${path}/allOf/${i}`);
      if (part === null || typeof part !== 'object' || (part.type !== undefined && part.type !== 'object') || part.anyOf || part.oneOf || part.allOf) {
        throw new JsonSchemaError('allOf is supported for object schemas only', `${path}/allOf/${i}`);
      }
      Object.assign(properties, (part.properties as Record<string, Schema> | undefined) ?? {});
      for (const r of (part.required as string[] | undefined) ?? []) required.add(r);
      if (part.additionalProperties !== undefined) additional = part.additionalProperties;
    });
    return this.visitObject({ type: 'object', properties, required: [...required], additionalProperties: additional }, name, path);
  }

  private visitObject(s: Record<string, unknown>, name: string, path: string): string {
    const props = (s.properties ?? {}) as Record<string, Schema>;
    if (props === null || typeof props !== 'object' || Array.isArray(props)) throw new JsonSchemaError('properties must be an object', path);
    if (!Array.isArray(s.required ?? [])) throw new JsonSchemaError('required must be an array', path);
    const required = new Set((s.required as string[] | undefined) ?? []);
    const names = Object.keys(props);
    for (const r of required) {
      if (!names.includes(r)) throw new JsonSchemaError(`required property "${r}" has no schema in properties (not supported)`, path);
    }
    const kv = (prop: string): string => {
      const value = this.visit(props[prop]!, `${name}-${prop}`, `${path}/properties/${prop}`);
      return this.addRule(`${name}-${prop}-kv`, `${literal(JSON.stringify(prop))} space ":" space ${value}`);
    };
    const req = names.filter((n) => required.has(n)).map(kv);
    const opt = names.filter((n) => !required.has(n)).map(kv);
    const add = s.additionalProperties;
    if (add !== undefined && add !== false) {
      const valueRule = add === true ? this.primitive('value') : this.visit(add as Schema, `${name}-additional-value`, `${path}/additionalProperties`);
      // Any other key: a string that is not one of the declared property names is not enforced (as llama.cpp's
      // converter, which excludes them; here they are excluded too).
      const keyRule = names.length === 0 ? this.primitive('string') : this.addRule(`${name}-additional-key`, notOneOf(names, this));
      opt.push(this.addRule(`${name}-additional-kv`, `${keyRule} ":" space ${valueRule}`) + '*');
    }
    let body = '"{" space ';
    body += req.join(' "," space ');
    if (opt.length > 0) {
      // Optional members in order, each may be absent: a chain of rules "first present one, then the rest".
      const chain = (i: number): string => {
        const [first, star] = opt[i]!.endsWith('*') ? [opt[i]!.slice(0, -1), true] : [opt[i]!, false];
        let alt = first;
        if (star) alt = `${first} ( "," space ${first} )*`;
        if (i + 1 < opt.length) alt += ` ( "," space ${chainRule(i + 1)} )?`;
        return alt;
      };
      const memo = new Map<number, string>();
      const chainRule = (i: number): string => {
        let r = memo.get(i);
        if (r === undefined) memo.set(i, (r = this.addRule(`${name}-rest-${i}`, Array.from({ length: opt.length - i }, (_, j) => chain(i + j)).join(' | '))));
        return r;
      };
      const all = chainRule(0);
      body += req.length > 0 ? ` ( "," space ${all} )?` : ` ( ${all} )?`;
    }
    body += ' "}" space';
    return this.addRule(name, body);
  }

  private visitArray(s: Record<string, unknown>, name: string, path: string): string {
    const min = intKeyword(s, 'minItems', path) ?? 0;
    const max = intKeyword(s, 'maxItems', path);
    if (Array.isArray(s.prefixItems) || Array.isArray(s.items)) {
      const tuple = (Array.isArray(s.prefixItems) ? s.prefixItems : s.items) as Schema[];
      if (Array.isArray(s.prefixItems) && s.items !== undefined && s.items !== false) throw new JsonSchemaError('items beside prefixItems is not supported', path);
      if (s.minItems !== undefined || s.maxItems !== undefined) throw new JsonSchemaError('minItems / maxItems with a tuple is not supported', path);
      const items = tuple.map((t, i) => this.visit(t, `${name}-tuple-${i}`, `${path}/prefixItems/${i}`));
      return this.addRule(name, `"[" space ${items.join(' "," space ')} "]" space`);
    }
    if (max !== undefined && max < min) throw new JsonSchemaError('maxItems is below minItems', path);
    const item = s.items === undefined ? this.primitive('value') : this.visit(s.items as Schema, `${name}-item`, `${path}/items`);
    return this.addRule(name, `"[" space ${repetition(item, min, max, '"," space')} "]" space`);
  }

  private visitString(s: Record<string, unknown>, name: string, path: string): string {
    if (s.pattern !== undefined) {
      if (s.format !== undefined || s.minLength !== undefined || s.maxLength !== undefined) throw new JsonSchemaError('pattern beside format / minLength / maxLength is not supported', path);
      const body = regexToGbnf(String(s.pattern), `${path}/pattern`, this);
      return this.addRule(name, `"\\"" ${body} "\\"" space`);
    }
    if (s.format !== undefined) {
      const f = FORMATS[String(s.format)];
      if (f === undefined) throw new JsonSchemaError(`string format "${String(s.format)}" is not supported (supported: ${Object.keys(FORMATS).join(', ')})`, path);
      if (s.minLength !== undefined || s.maxLength !== undefined) throw new JsonSchemaError('format beside minLength / maxLength is not supported', path);
      return this.primitive(f);
    }
    const min = intKeyword(s, 'minLength', path);
    const max = intKeyword(s, 'maxLength', path);
    if (min === undefined && max === undefined) return this.primitive('string');
    if (max !== undefined && max < (min ?? 0)) throw new JsonSchemaError('maxLength is below minLength', path);
    const char = this.primitive('char');
    return this.addRule(name, `"\\"" ${char}{${min ?? 0},${max ?? ''}} "\\"" space`);
  }

  private visitInteger(s: Record<string, unknown>, name: string, path: string): string {
    let lo = -Infinity;
    let hi = Infinity;
    const num = (k: string): number | undefined => {
      const v = s[k];
      if (v === undefined) return undefined;
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new JsonSchemaError(`${k} must be a finite number`, path);
      return v;
    };
    const mn = num('minimum');
    const mx = num('maximum');
    const emn = num('exclusiveMinimum');
    const emx = num('exclusiveMaximum');
    if (mn !== undefined) lo = Math.max(lo, Math.ceil(mn));
    if (emn !== undefined) lo = Math.max(lo, Math.floor(emn) + 1);
    if (mx !== undefined) hi = Math.min(hi, Math.floor(mx));
    if (emx !== undefined) hi = Math.min(hi, Math.ceil(emx) - 1);
    if (lo === -Infinity && hi === Infinity) return this.primitive('integer');
    // An open end stops at 15 digits (exact in a double).
    const LIMIT = 1e15 - 1;
    if ((Number.isFinite(lo) && lo < -LIMIT) || (Number.isFinite(hi) && hi > LIMIT)) throw new JsonSchemaError('integer bounds beyond 15 digits are not supported', path);
    lo = Math.max(lo, -LIMIT);
    hi = Math.min(hi, LIMIT);
    if (lo > hi) throw new JsonSchemaError('the integer bounds leave no value', path);
    return this.addRule(name, `(${intRange(lo, hi)}) space`);
  }
}

function intKeyword(s: Record<string, unknown>, k: string, path: string): number | undefined {
  const v = s[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new JsonSchemaError(`${k} must be a non-negative integer`, path);
  return v;
}

/** `item` repeated min..max times (max undefined: unbounded), separated by `sep`. */
function repetition(item: string, min: number, max: number | undefined, sep: string): string {
  if (max === 0) return '';
  const more = (n: number | undefined): string => (n === undefined ? `( ${sep} ${item} )*` : n === 0 ? '' : `( ${sep} ${item} ){0,${n}}`);
  if (min === 0) return `( ${item} ${more(max === undefined ? undefined : max - 1)} )?`;
  const rest = max === undefined ? `( ${sep} ${item} )*` : max - min > 0 ? `( ${sep} ${item} ){0,${max - min}}` : '';
  return `${item} ${min > 1 ? `( ${sep} ${item} ){${min - 1}}` : ''} ${rest}`;
}

/** Decimal integers in [lo, hi] (as JSON writes them) as GBNF alternatives. */
function intRange(lo: number, hi: number): string {
  const alts: string[] = [];
  if (lo < 0) {
    // Negative part: "-" then the magnitudes in [max(1, -hi), -lo].
    const a = Math.max(1, -hi);
    const b = -lo;
    if (a <= b) alts.push(`"-" (${natRange(a, b)})`);
  }
  if (hi >= 0) alts.push(natRange(Math.max(0, lo), hi));
  return alts.join(' | ');
}

/** Non-negative integers in [lo, hi] without leading zeros. */
function natRange(lo: number, hi: number): string {
  const alts: string[] = [];
  for (let digits = String(lo).length; digits <= String(hi).length; digits++) {
    const first = digits === 1 ? 0 : 10 ** (digits - 1);
    const last = 10 ** digits - 1;
    const a = Math.max(lo, first);
    const b = Math.min(hi, last);
    if (a <= b) alts.push(...sameLength(String(a), String(b)));
  }
  return alts.join(' | ');
}

/** Digit strings of one length from a to b inclusive. */
function sameLength(a: string, b: string): string[] {
  if (a.length === 0) return [''];
  if (a === b) return [literal(a)];
  if (a[0] === b[0]) return sameLength(a.slice(1), b.slice(1)).map((r) => `${literal(a[0]!)} ${r}`.trim());
  const n = a.length - 1;
  const out: string[] = [];
  const allZero = /^0*$/.test(a.slice(1));
  const allNine = /^9*$/.test(b.slice(1));
  const anyDigits = n > 0 ? ` [0-9]{${n}}` : '';
  let from = Number(a[0]);
  let to = Number(b[0]);
  if (!allZero) {
    for (const r of sameLength(a.slice(1), '9'.repeat(n))) out.push(`${literal(a[0]!)} ${r}`.trim());
    from++;
  }
  const lastPartial = !allNine;
  if (lastPartial) to--;
  if (from <= to) out.push(`[${from}-${to}]${anyDigits}`);
  if (lastPartial) for (const r of sameLength('0'.repeat(n), b.slice(1))) out.push(`${literal(b[0]!)} ${r}`.trim());
  return out;
}

/** One character inside a GBNF class (the class's own syntax characters as hex escapes). */
function classChar(ch: string): string {
  const c = ch.codePointAt(0)!;
  return ch === ']' || ch === '[' || ch === '^' || ch === '-' || ch === '\\' || ch === '"' || c < 0x20 || c === 0x7f ? `\\x${c.toString(16).padStart(2, '0')}` : ch;
}

/** A JSON string (with its quotes) that is none of `names` (llama.cpp: additional keys exclude the declared ones). */
function notOneOf(names: string[], conv: Converter): string {
  // A trie of the names' characters: at each node, a different character leaves the set; finishing at a non-name
  // node or continuing past a leaf is also fine.
  interface Node {
    children: Map<string, Node>;
    isName: boolean;
  }
  const root: Node = { children: new Map(), isName: false };
  for (const n of names) {
    let node = root;
    for (const ch of n) {
      let c = node.children.get(ch);
      if (!c) node.children.set(ch, (c = { children: new Map(), isName: false }));
      node = c;
    }
    node.isName = true;
  }
  const char = conv.primitive('char');
  const build = (node: Node): string => {
    const alts: string[] = [];
    for (const [ch, child] of node.children) alts.push(`${literal(ch)} (${build(child)})`);
    const except = [...node.children.keys()]
      .filter((ch) => ch !== '"' && ch !== '\\')
      .map(classChar)
      .join('');
    // A character no name continues with (not an escape: keep it simple and JSON-safe), then any rest.
    alts.push(`[^"\\\\\\x7F\\x00-\\x1F${except}] ${char}* "\\""`);
    if (!node.isName) alts.push('"\\""');
    return alts.join(' | ');
  };
  return `"\\"" (${build(root)}) space`;
}

/** An anchored regex (the pattern keyword) as a GBNF expression over JSON string content. */
function regexToGbnf(pattern: string, path: string, conv: Converter): string {
  if (!pattern.startsWith('^') || !pattern.endsWith('$') || pattern.endsWith('\\$')) {
    throw new JsonSchemaError('pattern must start with "^" and end with "$"', path);
  }
  const src = pattern.slice(1, -1);
  let i = 0;
  // Characters of JSON string content written raw; quote, backslash and controls are excluded everywhere.
  const JSON_SAFE_NOT = '"\\\\\\x7F\\x00-\\x1F';
  const unsupported = (what: string): never => {
    throw new JsonSchemaError(`pattern uses ${what}, which is not supported`, path);
  };
  const escChar = (cp: number, inClass: boolean): string => {
    const ch = String.fromCodePoint(cp);
    if (cp === 0x22 || cp === 0x5c || cp < 0x20 || cp === 0x7f) unsupported(`a quote, backslash or control character (${JSON.stringify(ch)}), which JSON escapes`);
    if (inClass) return classChar(ch);
    return literal(ch);
  };
  const classShorthand: Record<string, string> = { d: '0-9', w: 'a-zA-Z0-9_', s: ' ' };
  const alternation = (): string => {
    const alts = [sequence()];
    while (src[i] === '|') {
      i++;
      alts.push(sequence());
    }
    return alts.length === 1 ? alts[0]! : `(${alts.join(' | ')})`;
  };
  const sequence = (): string => {
    const items: string[] = [];
    while (i < src.length && src[i] !== '|' && src[i] !== ')') {
      let atom = atomAt();
      // quantifiers
      const q = src[i];
      if (q === '*' || q === '+' || q === '?') {
        i++;
        atom = `(${atom})${q}`;
      } else if (q === '{') {
        const m = /^\{(\d*)(,?)(\d*)\}/.exec(src.slice(i));
        if (!m || (m[1] === '' && m[2] === '')) unsupported('a "{" that is not a repetition');
        i += m![0].length;
        atom = `(${atom}){${m![1] || '0'}${m![2]}${m![3]}}`;
      }
      if (src[i] === '?' && /[*+?}]/.test(src[i - 1]!)) i++; // lazy: same language
      if (src[i] === '+' && /[*+?}]/.test(src[i - 1]!)) unsupported('a possessive quantifier');
      items.push(atom);
    }
    return items.length === 0 ? '""' : items.join(' ');
  };
  const atomAt = (): string => {
    const c = src[i]!;
    if (c === '(') {
      i++;
      if (src[i] === '?') {
        if (src[i + 1] === ':') i += 2;
        else unsupported(`the group "(?${src[i + 1] ?? ''}" (lookaround or named group)`);
      }
      const inner = alternation();
      if (src[i] !== ')') unsupported('an unclosed group');
      i++;
      return `(${inner})`;
    }
    if (c === '[') return charClass();
    if (c === '.') {
      i++;
      return `[^${JSON_SAFE_NOT}]`;
    }
    if (c === '^' || c === '$') unsupported(`"${c}" inside the pattern`);
    if (c === '*' || c === '+' || c === '?' || c === '{') unsupported(`a quantifier "${c}" with nothing before it`);
    if (c === '\\') {
      const e = src[i + 1];
      if (e === undefined) unsupported('a trailing backslash');
      i += 2;
      if (e! in classShorthand) return `[${classShorthand[e!]}]`;
      const lower = e!.toLowerCase();
      if (lower in classShorthand) return `[^${classShorthand[lower]}${JSON_SAFE_NOT}]`;
      if (/[0-9]/.test(e!)) unsupported('a back reference');
      if (e === 'b' || e === 'B') unsupported('a word boundary');
      if (/[a-zA-Z]/.test(e!)) unsupported(`the escape \\${e}`);
      return escChar(e!.codePointAt(0)!, false);
    }
    const cp = src.codePointAt(i)!;
    i += cp > 0xffff ? 2 : 1;
    return escChar(cp, false);
  };
  const charClass = (): string => {
    i++;
    const negate = src[i] === '^';
    if (negate) i++;
    let body = '';
    let first = true;
    while (i < src.length && (src[i] !== ']' || first)) {
      first = false;
      if (src[i] === '[' && src[i + 1] === ':') unsupported('a POSIX class');
      if (src[i] === '\\') {
        const e = src[i + 1]!;
        i += 2;
        if (e in classShorthand) {
          body += classShorthand[e];
          continue;
        }
        if (/[a-zA-Z0-9]/.test(e)) unsupported(`the escape \\${e} in a class`);
        body += escChar(e.codePointAt(0)!, true);
        continue;
      }
      if (src[i] === '-' && body.length > 0 && src[i + 1] !== ']') {
        body += '-';
        i++;
        continue;
      }
      const cp = src.codePointAt(i)!;
      i += cp > 0xffff ? 2 : 1;
      body += escChar(cp, true);
    }
    if (src[i] !== ']') unsupported('an unclosed character class');
    i++;
    return negate ? `[^${body}${JSON_SAFE_NOT}]` : `[${body}]`;
  };
  const out = alternation();
  if (i < src.length) unsupported(`an unbalanced ")"`);
  void conv;
  return out;
}

/** GBNF text for a JSON Schema (JsonSchemaError for what cannot be converted). */
export function jsonSchemaToGbnf(schema: unknown): string {
  if (typeof schema === 'string') {
    try {
      schema = JSON.parse(schema);
    } catch (e) {
      throw new JsonSchemaError(`the schema is not valid JSON: ${(e as Error).message}`);
    }
  }
  if (typeof schema !== 'boolean' && (schema === null || typeof schema !== 'object' || Array.isArray(schema))) {
    throw new JsonSchemaError('a schema must be an object or a boolean');
  }
  const conv = new Converter(schema as Schema);
  const root = conv.visit(schema as Schema, 'root', '#');
  if (root !== 'root') conv.addRule('root', root);
  return conv.grammar();
}

/** GBNF for any JSON object (JSON mode, `{ type: "json_object" }`). */
export function jsonObjectGbnf(): string {
  return jsonSchemaToGbnf({ type: 'object' });
}
